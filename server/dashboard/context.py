"""What every dashboard session reaches: the server's state, the producer, the login."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..auth import RateLimiter
from ..errors import ApiError
from ..routes.auth import login_user, register_user
from ..schemas import LoginIn, RegisterIn
from ..state import ServerState
from .logins import PageLogins
from .producer import Producer
from .replay_pool import ReplayPool
from .sessions import Binding

PER_ADDRESS = 4  # an address may try this many times the per-browser login limit
FIELDS = {"name": "Name", "email": "Email", "password": "Password", "margin_mode": "Margin mode"}


class LoginFailed(Exception):
    """A login or registration refused; the message says why, for the person."""


@dataclass
class Dashboards:
    """Shared by the sessions of one server process."""

    get_state: Callable[[], ServerState]
    producer: Producer
    local_account: str | None = None  # `workbench dashboard`: one local user, no login
    key: bytes = b""  # signs the Bokeh session ids
    ready: bool = False  # the pages are mounted (see `attach`)
    attaching: asyncio.Task[None] | None = None
    cleanup: asyncio.Task[None] | None = None  # ends the sessions of gone browsers
    per_address: RateLimiter | None = None  # logins per address, whatever the browser
    replays: ReplayPool | None = None  # the replay pages' worker processes
    logins: PageLogins = field(init=False)  # the pages' logins (the `token` cookie's)

    def __post_init__(self) -> None:
        self.logins = PageLogins(self.get_state)

    def limit_addresses(self, per_browser: tuple[int, float]) -> None:
        """Cap an address's logins (fresh browser cookies buy no fresh tries past this)."""
        limit, window = per_browser
        self.per_address = RateLimiter(limit * PER_ADDRESS, window)

    @property
    def state(self) -> ServerState:
        return self.get_state()

    # ------------------------------------------------------------ accounts
    async def login(
        self, email: str, password: str, opener: Binding | None
    ) -> tuple[str, str, str]:
        """(account, name, token) for a registered user: the API's login and throttle, with
        this browser at its address as the client (not one bucket for every dashboard)."""
        client, address = (opener.client, opener.peer) if opener else ("dashboard", "dashboard")
        wait = self.per_address.hit(address) if self.per_address else 0.0
        if wait:
            raise LoginFailed(f"too many login attempts from this address: try again in "
                              f"{wait:.0f} s")  # fmt: skip
        try:
            body = LoginIn(email=email, password=password)
            user, token = await login_user(self.state, body, client)
        except ApiError as e:
            raise LoginFailed(str(e.detail)) from None
        except ValueError as e:  # the body's own validation (pydantic)
            raise LoginFailed(_first_error(e)) from None
        return user.id, user.name, token

    async def register(
        self, name: str, email: str, password: str, margin_mode: str, opener: Binding | None
    ) -> tuple[str, str, str]:
        """Create a user and its paper account, as `POST /auth/register` does (and counted
        against the same per-address limit)."""
        address = opener.peer if opener else "dashboard"
        try:
            body = RegisterIn(name=name, email=email, password=password, margin_mode=margin_mode)
            user, token = await register_user(self.state, body, address)
        except ApiError as e:
            raise LoginFailed(str(e.detail)) from None
        except ValueError as e:
            raise LoginFailed(_first_error(e)) from None
        return user.id, user.name, token


def _first_error(e: ValueError) -> str:
    """The first problem of a login or registration form, in plain words ("Password must
    be at least 8 characters"), not pydantic's ("String should have at least ...")."""
    errors = getattr(e, "errors", None)
    if not callable(errors) or not errors():
        return str(e)
    first: dict[str, Any] = errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{FIELDS.get(where, where)} {_plain(first)}".strip()


def _plain(error: dict[str, Any]) -> str:
    kind, ctx = error.get("type"), error.get("ctx") or {}
    if kind == "missing":
        return "is missing"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_type":
        return "must be text"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    return str(error.get("msg", "is not valid"))
