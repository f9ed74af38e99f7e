"""`/auth/*`: register, login, logout, me (and the third seed's `/api/v1/auth/*` names)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from ..auth import hash_password, password_problem, verify_password
from ..errors import ApiError, errors
from ..jsonbody import ExactJSONRoute
from ..peers import client_address
from ..schemas import AuthOut, LoginIn, MeOut, MessageOut, RegisterIn
from ..state import COOKIE_NAMES, Authed, ServerState, State
from ..users import EmailTaken, User

router = APIRouter(route_class=ExactJSONRoute, tags=["auth"])
_register_lock = asyncio.Lock()


def set_cookies(state: ServerState, response: Response, token: str) -> None:
    for name in COOKIE_NAMES:
        response.set_cookie(
            name, token, max_age=state.config.token_ttl_s, httponly=True, samesite="lax",
            secure=state.config.secure_cookies, path="/",
        )  # fmt: skip


async def register_user(
    state: ServerState, body: RegisterIn, client: str | None = None
) -> tuple[User, str]:
    """Create the user and its paper account; returns the user and a token.

    Registrations are limited per `client` (an address or a browser's key): 429 beyond.
    `None` leaves the throttling to the caller.
    """
    problem = password_problem(body.password)
    if problem:
        raise ApiError(422, problem, "invalid_request")
    if client is not None:
        wait = state.registrations.hit(client)
        if wait > 0:
            raise ApiError(
                429, f"too many registrations from your address: try again in {wait:.0f} s",
                headers={"Retry-After": str(max(1, round(wait)))},
            )  # fmt: skip
    digest = await asyncio.to_thread(hash_password, body.password)
    async with _register_lock:
        if state.users.by_email(body.email) is not None:
            raise ApiError(409, f"{body.email} is registered already", "email_taken")
        user_id = state.users.new_id()
        # The engine account first: a user row never exists without its account.
        await state.desk.create_account(user_id, body.margin_mode)
        try:
            user = await asyncio.to_thread(
                state.users.add, user_id, body.email, body.name.strip(), digest
            )
        except EmailTaken:
            raise ApiError(409, f"{body.email} is registered already", "email_taken") from None
    token, _ = state.tokens.issue(user.id)
    return user, token


async def login_user(state: ServerState, body: LoginIn, client: str) -> tuple[User, str]:
    """Check the password (rate-limited per email and per client); returns user and token."""
    wait = state.throttle.check(body.email, client)
    if wait > 0:
        raise ApiError(429, f"too many login attempts: try again in {wait:.0f} s",
                       headers={"Retry-After": str(max(1, round(wait)))})  # fmt: skip
    user = await asyncio.to_thread(state.users.by_email, body.email)
    # an unknown email is checked against a dummy hash: both cases take as long
    ok = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, body.password
    )
    if user is None or not ok:
        state.throttle.failed(body.email, client)
        raise ApiError(401, "wrong email or password", "invalid_credentials")
    state.throttle.succeeded(body.email, client)
    token, _ = state.tokens.issue(user.id)
    return user, token


def client_of(request: Request) -> str:
    """The caller's address: the peer, or what a --trusted-proxy says it forwarded."""
    return client_address(request, request.app.state.server.config)


@router.post("/auth/register", status_code=201, response_model=AuthOut,
             responses=errors(409, 413, 422, 429))  # fmt: skip
async def register(body: RegisterIn, request: Request, response: Response, state: State) -> dict:
    """Create a user with a paper account (demo balance; `margin_mode` isolated or cross).
    At most 10 registrations per client address in 10 minutes (429 beyond)."""
    user, token = await register_user(state, body, client_of(request))
    set_cookies(state, response, token)
    return {"message": "registered", "user": user.public(), "token": token}


@router.post("/auth/login", response_model=AuthOut, responses=errors(401, 413, 422, 429))
async def login(body: LoginIn, request: Request, response: Response, state: State) -> dict:
    """Log in; the token comes back in the body and as the HttpOnly cookie `token`."""
    user, token = await login_user(state, body, client_of(request))
    set_cookies(state, response, token)
    return {"message": "logged in", "user": user.public(), "token": token}


@router.post("/auth/logout", response_model=MessageOut, responses=errors(401))
async def logout(session: Authed, response: Response, state: State) -> dict:
    """Revoke this token (refused from now until it expires) and clear the cookie."""
    state.tokens.revoke(session.claims)
    state.hub.close_token(session.account, str(session.claims["jti"]))  # its /ws sockets: 1008
    for name in COOKIE_NAMES:
        response.delete_cookie(name, path="/")
    return {"message": "logged out"}


@router.get("/auth/me", response_model=MeOut, responses=errors(401))
async def me(session: Authed, state: State) -> dict:
    """The logged-in user and the account's margin mode."""
    figs, _ = await state.desk.summary(session.account)
    return {"user": session.user.public(), "margin_mode": figs["margin_mode"]}
