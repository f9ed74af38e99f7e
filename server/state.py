"""What a running server holds, and the request dependencies that reach it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import duckdb
from fastapi import Depends, HTTPException, Request, WebSocket

from workbench.feeds.backpack_client import now_us
from workbench.live.desk import Desk
from workbench.live.host import LiveEngine

from .auth import AuthError, LoginThrottle, RateLimiter, TokenService
from .config import ServerConfig
from .hub import Hub
from .users import User, Users

COOKIE_NAMES = ("token", "authToken")  # ours, and the third seed's


@dataclass
class ServerState:
    """The one engine and everything around it, for the life of the process."""

    config: ServerConfig
    live: LiveEngine
    desk: Desk
    users: Users
    tokens: TokenService
    throttle: LoginThrottle
    hub: Hub
    accounts_db: duckdb.DuckDBPyConnection
    feed: Any = None  # the FeedSupervisor, once started
    tick_db: duckdb.DuckDBPyConnection | None = None
    dashboards: Any = None  # the dashboards' shared state, when mounted
    # registrations per client address (see ServerConfig.register_per_client)
    registrations: RateLimiter = field(default_factory=lambda: RateLimiter(10, 600.0))

    def clock(self) -> int:
        """The input time of a command: the feed's clock (a replay's time, or the wall)."""
        return self.feed.clock_us() if self.feed is not None else now_us()

    def feed_status(self) -> dict[str, Any]:
        if self.feed is None:
            return {"state": "STARTING", "message": "the feed is starting"}
        return self.feed.status()


async def get_state(request: Request) -> ServerState:  # async: no thread-pool hop
    return request.app.state.server  # type: ignore[no-any-return]


State = Annotated[ServerState, Depends(get_state)]


def token_of(headers: Any, cookies: dict[str, str], query: Any = None) -> str | None:
    """The token of a request: Bearer header, then the cookies, then `?token=` (sockets)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    for name in COOKIE_NAMES:
        if cookies.get(name):
            return cookies[name]
    if query is not None and query.get("token"):
        return str(query.get("token"))
    return None


@dataclass(frozen=True)
class Session:
    """An authenticated request: the user and the token's claims."""

    user: User
    claims: dict[str, Any]

    @property
    def account(self) -> str:
        return self.user.id


def authenticate(state: ServerState, token: str | None) -> Session:
    """Check a token; raises HTTPException 401 saying why not."""
    if not token:
        raise HTTPException(401, "authentication required: send a Bearer token or the cookie")
    try:
        claims = state.tokens.verify(token)
    except AuthError as e:
        raise HTTPException(401, str(e)) from None
    user = state.users.by_id(str(claims.get("sub")))
    if user is None:
        raise HTTPException(401, "the token's user does not exist")
    return Session(user, claims)


async def current_session(request: Request, state: State) -> Session:
    return authenticate(state, token_of(request.headers, request.cookies))


Authed = Annotated[Session, Depends(current_session)]


def ws_session(ws: WebSocket, state: ServerState) -> Session | None:
    """A socket's session, or None for a public socket; raises HTTPException on a bad token."""
    token = token_of(ws.headers, ws.cookies, ws.query_params)
    return None if token is None else authenticate(state, token)
