"""The login / register card, and the page's side of the login that lasts (logins.py).

The same accounts, password rules and throttle as the API. A login here is handed to the
browser as the API's HttpOnly `token` cookie (`HANDOFF_JS` POSTs a one-time code to
`/dashboard/login`); the Log out button (`LOGOUT_JS`) POSTs `/dashboard/logout`, which
clears it, and reloads. While logged in, the card checks every few seconds that the login
still holds (a logout elsewhere, or through the API, revokes it) and ends the page's if not.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

import panel as pn

from .context import Dashboards, LoginFailed
from .sessions import current_binding, current_login
from .view import html_pane

OnLogin = Callable[[str, str], Awaitable[None] | None]
CHECK_MS = 2000  # how often a logged-in page checks that its login still holds
#: the browser exchanges the hand-over code for the cookie; <html data-wb-login> says how
HANDOFF_JS = """
const code = cb_obj.value
if (!code) { return }
const mark = (how) => { document.documentElement.dataset.wbLogin = how }
fetch('/dashboard/login', {method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({code: code})})
  .then(r => mark(r.ok ? 'kept' : 'refused ' + r.status), () => mark('failed'))
"""
#: Log out: the cookie is cleared (and its token revoked) by the server, then a fresh page
LOGOUT_JS = """
fetch('/dashboard/logout', {method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: {'Content-Type': 'application/json'}, body: '{}'})
  .finally(() => window.location.reload())
"""


class LoginCard:
    """Email + password, or a new account; calls `on_login(account, name)` on success and
    `on_ended()` when the login ends elsewhere (revoked or expired)."""

    def __init__(
        self, dash: Dashboards, on_login: OnLogin, on_ended: Callable[[], None] | None = None
    ) -> None:
        self.dash = dash
        self.on_login = on_login
        self.on_ended = on_ended
        self.jti: str | None = None  # the login this page runs under (see logins.py)
        self.opener = current_binding()  # this browser: the throttle's client
        self.refusals = 0  # numbers each refusal shown (data-n), so a new one is told apart
        # the hand-over code goes to the browser through this (hidden; put in the header)
        self.handoff = pn.widgets.TextInput(name="login_handoff", visible=False, width=0)
        self.handoff.jscallback(value=HANDOFF_JS)
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.add_periodic_callback(self._still_valid, period=CHECK_MS)
        self.email = pn.widgets.TextInput(name="Email", placeholder="you@example.com",
                                          width=300)  # fmt: skip
        self.password = pn.widgets.PasswordInput(name="Password", width=300)
        self.name = pn.widgets.TextInput(name="Name (new account)", width=300)
        self.mode = pn.widgets.RadioButtonGroup(
            name="Margin mode", options=["isolated", "cross"], value="isolated", width=300
        )
        self.login_btn = pn.widgets.Button(name="Log in", button_type="primary", width=145)
        self.register_btn = pn.widgets.Button(name="Register", button_type="default", width=145)
        self.message = html_pane("", width=300, name="login_msg")
        self.login_btn.on_click(self._login)
        self.register_btn.on_click(self._register)
        self.panel = pn.Column(
            pn.pane.Markdown(
                "## Paper trading\nLog in, or register a new paper account "
                "(5,000 USD demo balance). Same accounts as the REST API."
            ),
            self.email, self.password,
            pn.pane.Markdown("New here? Fill in your name, pick a margin mode, press Register.",
                             styles={"font-size": "12px", "opacity": "0.7"}),  # fmt: skip
            self.name, self.mode,
            pn.Row(self.login_btn, self.register_btn),
            self.message,
            styles={"background": "var(--wb-card, #1e222d)", "border-radius": "8px",
                    "padding": "18px"},  # the theme's card colour (responsive.py)
            width=360, margin=(40, 0, 0, 0),
        )  # fmt: skip

    def _busy(self, busy: bool) -> None:
        self.login_btn.disabled = self.register_btn.disabled = busy

    def _fail(self, why: str) -> None:
        why = html.escape(why)
        self.refusals += 1
        self.message.object = (f'<span class="ticket-msg-error" data-error="login" '
                               f'data-n="{self.refusals}">{why}</span>')  # fmt: skip

    async def _login(self, _: object = None) -> None:
        await self._attempt(
            self.dash.login(self.email.value.strip(), self.password.value, self.opener)
        )

    async def _register(self, _: object = None) -> None:
        if not self.name.value.strip():
            self._fail("fill in your name to register")
            return
        await self._attempt(
            self.dash.register(
                self.name.value.strip(),
                self.email.value.strip(),
                self.password.value,
                self.mode.value,
                self.opener,
            )  # fmt: skip
        )

    async def _attempt(self, call: Awaitable[tuple[str, str, str]]) -> None:
        """Await a login or registration; show why it failed, or go on as that user."""
        self._busy(True)
        try:
            account, name, token = await call
        except LoginFailed as e:
            self._fail(str(e))
            return
        finally:
            self._busy(False)
        session = self.dash.logins.remember(token)
        self.jti = None if session is None else str(session.claims["jti"])
        if self.opener is not None:  # the browser keeps the login as the API's cookie
            self.handoff.value = self.dash.logins.handoff(token, self.opener.browser)
        await self._done(account, name)

    # -------------------------------------------------------- a login that lasts
    def from_request(self) -> tuple[str, str] | None:
        """(account, name) of the login the page was served with (the token cookie)."""
        session = self.dash.logins.session(current_login())
        if session is None:
            return None
        self.jti = str(session.claims["jti"])
        return session.account, session.user.name

    def end(self) -> None:
        """Log out: the token is revoked and its API sockets closed (the browser's Log out
        button clears the cookie: LOGOUT_JS)."""
        jti, self.jti = self.jti, None
        self.dash.logins.end(jti)

    def _still_valid(self) -> None:
        if self.jti is not None and self.dash.logins.session(self.jti) is None:
            self.jti = None
            if self.on_ended is not None:
                self.on_ended()

    async def _done(self, account: str, name: str) -> None:
        self.password.value = ""
        self.message.object = ""
        result = self.on_login(account, name)
        if result is not None:
            await result
