"""One login for the pages and the API: the HttpOnly `token` cookie.

* A page is logged in when it is served: the cookie's token is checked then, and the
  page's session token carries only the login's id (its `jti`), never the JWT or any
  cookie (Panel would copy them into the page, where its scripts could read them).
* A login in the page (over the page's WebSocket) ends with a hand-over: a one-time code,
  bound to this browser and valid for a minute, that the page POSTs to `/dashboard/login`
  (same origin, JSON: the API's cross-site rules apply), which sets the cookie. So a
  reload, another tab or the light/dark switch stay logged in, and the API too.
* `end` (Log out) revokes the token, closes its `/ws` sockets and forgets it; the page
  then POSTs `/dashboard/logout`, which clears the cookie.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..state import COOKIE_NAMES, ServerState, Session, authenticate

HANDOFF_S = 60.0  # a hand-over code is good for this long, once
MAX_LOGINS = 10_000  # logins remembered (the least recently used are forgotten first)
MAX_HANDOFFS = 1_000


@dataclass(frozen=True)
class Handoff:
    token: str
    browser: str  # the HMAC of the browser cookie it was made for (sessions.Binding)
    until: float


class PageLogins:
    """The dashboards' logins: login id (jti) -> token, and the pending hand-overs."""

    def __init__(self, get_state: Callable[[], ServerState]) -> None:
        self.get_state = get_state
        self.tokens: OrderedDict[str, str] = OrderedDict()
        self.handoffs: dict[str, Handoff] = {}

    def remember(self, token: str | None) -> Session | None:
        """The session of a valid token, remembered under its jti; None for any other."""
        try:
            session = authenticate(self.get_state(), token)
        except Exception:  # no token, malformed, expired, revoked, user gone
            return None
        jti = str(session.claims["jti"])
        self.tokens[jti] = token  # type: ignore[assignment]
        self.tokens.move_to_end(jti)
        while len(self.tokens) > MAX_LOGINS:
            self.tokens.popitem(last=False)
        return session

    def from_cookies(self, cookies: dict[str, str]) -> str | None:
        """The login id of the token cookie a page request brings, if it is valid."""
        token = next((cookies[n] for n in COOKIE_NAMES if cookies.get(n)), None)
        session = self.remember(token)
        return None if session is None else str(session.claims["jti"])

    def session(self, jti: str | None) -> Session | None:
        """The session of a remembered login, while its token is valid (else forgotten)."""
        token = self.tokens.get(jti) if jti else None
        if token is None:
            return None
        try:
            return authenticate(self.get_state(), token)
        except Exception:
            self.tokens.pop(jti, None)  # type: ignore[arg-type]
            return None

    def end(self, jti: str | None) -> None:
        """Log out: revoke the token, close its API sockets, forget it."""
        session = self.session(jti)
        if jti is not None:
            self.tokens.pop(jti, None)
        if session is None:
            return
        state = self.get_state()
        state.tokens.revoke(session.claims)
        state.hub.close_token(session.account, str(session.claims["jti"]))

    # ------------------------------------------------------------ hand-over
    def handoff(self, token: str, browser: str) -> str:
        """A one-time code the browser `browser` exchanges for the cookie of `token`."""
        now = time.monotonic()
        for code in [c for c, h in self.handoffs.items() if h.until <= now]:
            del self.handoffs[code]
        while len(self.handoffs) >= MAX_HANDOFFS:
            del self.handoffs[next(iter(self.handoffs))]
        code = secrets.token_urlsafe(32)
        self.handoffs[code] = Handoff(token, browser, now + HANDOFF_S)
        return code

    def redeem(self, code: str, browser: str | None) -> str | None:
        """The token of a code made for this browser, once, within its minute; else None."""
        h = self.handoffs.pop(code, None)
        if h is None or browser is None or h.until <= time.monotonic():
            return None
        if not secrets.compare_digest(h.browser, browser):
            return None
        return h.token if self.remember(h.token) is not None else None
