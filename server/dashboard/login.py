"""The login / register card: the same accounts, password rules and throttle as the API."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

import panel as pn

from .context import Dashboards, LoginFailed
from .sessions import current_binding
from .view import html_pane

OnLogin = Callable[[str, str], Awaitable[None] | None]


class LoginCard:
    """Email + password, or a new account; calls `on_login(account, name)` on success."""

    def __init__(self, dash: Dashboards, on_login: OnLogin) -> None:
        self.dash = dash
        self.on_login = on_login
        self.opener = current_binding()  # this browser: the throttle's client
        self.refusals = 0  # numbers each refusal shown (data-n), so a new one is told apart
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
            styles={"background": "#1e222d", "border-radius": "8px", "padding": "18px"},
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
            account, name, _token = await call
        except LoginFailed as e:
            self._fail(str(e))
            return
        finally:
            self._busy(False)
        await self._done(account, name)

    async def _done(self, account: str, name: str) -> None:
        self.password.value = ""
        self.message.object = ""
        result = self.on_login(account, name)
        if result is not None:
            await result
