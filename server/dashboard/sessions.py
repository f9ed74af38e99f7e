"""Dashboard sessions bound to the browser that opened them.

Bokeh lets whoever names a session (`?bokeh_session_id=`) or holds its token join it, and
answers a bad token with a 500. Here, in front of the pages and their sockets:

* a page request naming a session id (query `bokeh_session_id` or `bokeh-session-id`, or a
  `bokeh-session-id` header) is refused with 403: every page load gets a fresh session;
* every browser gets a random HttpOnly cookie (`workbench_browser`) with its first page;
  the session's signed token carries an HMAC of it (never the cookie itself), and the
  WebSocket that attaches to a session must bring the same cookie, else 403;
* a token the server did not sign (garbage, not JSON, tampered, forged) or an expired one
  is refused with 403 before Bokeh sees it, with one log line.

The HMAC and the peer address are also the login throttle's per-browser key (`binding`).
The token also carries the page's login, as its id only (see logins.py): Bokeh is told to
copy no cookie and no Cookie or Authorization header into it (`NO_COOKIES`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

COOKIE = "workbench_browser"
PAYLOAD_KEY = "workbench"  # in the session token: {"browser": HMAC of the cookie, "peer": ...}
SESSION_PARAMS = ("bokeh_session_id", "bokeh-session-id")
#: Bokeh's settings that keep every cookie (the API's `token` JWT among them) out of the
#: session token it writes into the page, where the page's scripts could read it
NO_COOKIES: dict[str, Any] = {"include_cookies": [], "exclude_headers": ["Cookie", "Authorization"]}
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Binding:
    """Who opened a session: an HMAC of their browser cookie, and their address."""

    browser: str
    peer: str

    @property
    def client(self) -> str:
        """The login throttle's client key: this browser at this address."""
        return f"{self.peer} browser {self.browser[:24]}"


_opening: ContextVar[Binding | None] = ContextVar("dashboard_opening", default=None)


def browser_mac(key: bytes, cookie: str) -> str:
    return hmac.new(key, b"browser " + cookie.encode(), hashlib.sha256).hexdigest()


def token_payload(token: str, key: bytes) -> dict[str, Any] | None:
    """The payload of a session token this server signed and that has not expired, or None."""
    from bokeh.util.token import check_token_signature, get_token_payload

    try:
        if not check_token_signature(token, secret_key=key, signed=True):
            return None
        payload = get_token_payload(token)
    except Exception:  # not base64, not JSON, not zlib, no session id...: not ours
        return None
    expiry = payload.get("session_expiry") if isinstance(payload, dict) else None
    if not isinstance(expiry, int | float) or time.time() >= expiry:
        return None
    return payload


def binding_of(payload: dict[str, Any]) -> Binding | None:
    """The binding a session token carries (None for a token minted without one)."""
    data = payload.get(PAYLOAD_KEY)
    if isinstance(data, dict) and isinstance(data.get("browser"), str):
        return Binding(data["browser"], str(data.get("peer", "unknown")))
    return None


def _our_payload() -> dict[str, Any]:
    """Our part of the token of the Bokeh session being built or run (in a page's code)."""
    import panel as pn

    ctx = pn.state.curdoc.session_context if pn.state.curdoc else None
    try:
        data = ctx.token_payload.get(PAYLOAD_KEY) if ctx is not None else None
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def current_binding() -> Binding | None:
    """The binding of the Bokeh session being built or run (in a page's code)."""
    return binding_of({PAYLOAD_KEY: _our_payload()})


def current_login() -> str | None:
    """The login id (jti) the page was served with, if its browser was logged in."""
    login = _our_payload().get("login")
    return login if isinstance(login, str) else None


def opening_binding() -> Binding | None:
    """The browser of the request being served under the prefix (set by SessionGuard)."""
    return _opening.get()


def bind_sessions(bokeh: Any, login_of: Callable[[dict[str, str]], str | None]) -> None:
    """Make each Bokeh application put the opener's binding, and the login id of the
    token cookie the page request brings (`login_of(cookies)`), into its session tokens."""
    for ctx in bokeh._applications.values():
        application = ctx.application
        original = application.process_request

        def process_request(request: Any, _original: Any = original) -> dict[str, Any]:
            data = dict(_original(request))
            ours: dict[str, Any] = {}
            opening = _opening.get()
            if opening is not None:
                ours.update(browser=opening.browser, peer=opening.peer)
            try:
                cookies = {k: m.value for k, m in request.cookies.items()}
            except Exception:  # a Cookie header Python cannot parse: no login
                cookies = {}
            login = login_of(cookies)
            if login is not None:
                ours["login"] = login
            if ours:
                data[PAYLOAD_KEY] = ours
            return data

        application.process_request = process_request


def _cookies(scope: Scope) -> dict[str, str]:
    raw = b"; ".join(v for k, v in scope.get("headers") or [] if k == b"cookie")
    return cookie_parser(raw.decode("latin-1"))


def _without_our_cookie(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request headers with `workbench_browser` taken out of Cookie (Panel copies every
    cookie into the page's token, where the page's scripts could read it)."""
    out = []
    for k, v in headers:
        if k == b"cookie":
            kept = [c for c in v.split(b";") if c.split(b"=", 1)[0].strip() != COOKIE.encode()]
            if not kept:
                continue
            v = b";".join(kept).strip()
        out.append((k, v))
    return out


class SessionGuard:
    """Fresh sessions only, bound to the browser cookie; sockets checked against it."""

    def __init__(
        self, app: ASGIApp, prefix: str, secret_key: bytes, peer: Callable[[Scope], str]
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.key = secret_key
        self.peer = peer
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await self._page(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._socket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = list(scope.get("headers") or [])
        if any(k in SESSION_PARAMS for k, _ in query) or any(
            k == b"bokeh-session-id" for k, _ in headers
        ):
            self.refused += 1
            why = f"a dashboard link must not name a session: open {self.prefix} without it"
            await _plain(send, 403, why)
            return
        cookie = _cookies(scope).get(COOKIE, "")
        fresh = not _COOKIE_VALUE.fullmatch(cookie)
        if fresh:
            cookie = secrets.token_urlsafe(32)
        opening = Binding(browser_mac(self.key, cookie), self.peer(scope))
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        set_cookie = (f"{COOKIE}={cookie}; Path={self.prefix}; HttpOnly; SameSite=Lax"
                      f"{secure}").encode()  # fmt: skip

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"cache-control", b"no-store")]  # pages carry session tokens
                if fresh:
                    extra.append((b"set-cookie", set_cookie))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        token = _opening.set(opening)
        try:
            await self.app({**scope, "headers": _without_our_cookie(headers)}, receive, sending)
        finally:
            _opening.reset(token)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        why = self._refusal(scope)
        if why is None:
            await self.app(scope, receive, send)
            return
        self.refused += 1
        log.warning("refused a dashboard WebSocket to %s: %s", scope.get("path"), why)
        await send({"type": "websocket.close", "code": 1008, "reason": why})

    def _refusal(self, scope: Scope) -> str | None:
        """Why this socket may not attach to a session, or None if it may."""
        protocols = list(scope.get("subprotocols") or [])
        if len(protocols) != 2 or protocols[0] != "bokeh":
            return "no Bokeh session token"
        payload = token_payload(protocols[1], self.key)
        if payload is None:
            return "invalid or expired session token"
        bound = binding_of(payload)
        cookie = _cookies(scope).get(COOKIE, "")
        if bound is None or not hmac.compare_digest(bound.browser, browser_mac(self.key, cookie)):
            return "this session belongs to another browser"
        return None


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
