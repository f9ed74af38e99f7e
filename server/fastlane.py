"""The order routes on a lean path: open and close without FastAPI's machinery.

`POST /trade/create` (and `/trade/open`) and `POST /trade/close/{orderId}` are what a
trading client sends most. Through FastAPI each one went through five more middlewares,
the router, dependency solving, body validation and a response object: most of the
server's CPU per order, on the event loop the engine's answers wait for. `FastLane` sits
in front of all that (inside `BodyLimit`, so the size limit is the same) and answers the
plain case itself, with the same code and the same JSON as the routes: a Bearer token
that verifies, no `Origin` or `Referer` (not a browser: CORS and the cross-site guard
have nothing to say), a body that is valid JSON for `TradeIn` (an empty body for a close).
Anything else (no or a bad token, a browser's call, a body the routes would refuse, a
close of a part) goes the full way, with the body read so far handed on: every refusal
is the routes' own, word for word. The routes stay in FastAPI, so `/openapi.json`
documents them as before.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors
from .jsonbody import parse_json
from .routes.trade import close_trade, open_trade
from .schemas import TradeIn
from .state import ServerState, authenticate

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/trade/create", "/trade/open"})
CLOSE_PREFIX = "/trade/close/"
MAX_ORDER_ID = 64  # as the route's path parameter


class FastLane:
    """ASGI middleware answering the plain open and close calls; see the module docstring."""

    def __init__(self, app: ASGIApp, api: Any) -> None:
        """`api`: the FastAPI app; its `state.server` is the server's state once started,
        and `/health` finds this lane as its `state.fast_lane`."""
        self.app = app
        self.api = api
        self.taken = 0  # calls answered here (the rest went the full way)
        api.state.fast_lane = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in OPEN_PATHS:
            order_id = None
        elif path.startswith(CLOSE_PREFIX):
            order_id = path[len(CLOSE_PREFIX) :]
            if not 0 < len(order_id) <= MAX_ORDER_ID or "/" in order_id:
                await self.app(scope, receive, send)
                return
        else:
            await self.app(scope, receive, send)
            return
        token = _plain_bearer(scope["headers"])
        state: ServerState | None = getattr(self.api.state, "server", None)
        if token is None or state is None:
            await self.app(scope, receive, send)
            return
        body, more = await _read(receive)
        again = _replay(body, more, receive)
        try:
            session = authenticate(state, token)
            trade = None
            if order_id is None:
                trade = TradeIn.model_validate(parse_json(body))
            elif body.strip():  # a part (`qty`) or a body to check: the route's business
                raise LookupError
        except (HTTPException, ValidationError, LookupError):
            await self.app(scope, again, send)
            return
        self.taken += 1
        try:
            if trade is not None:
                order = await open_trade(state.desk, session.account, trade)
                status, content = 201, {"orderId": order["id"], "order": order}
            else:
                assert order_id is not None
                status, content = 200, {"order": await close_trade(state.desk, session.account,
                                                                   order_id)}  # fmt: skip
            headers = None
        except HTTPException as e:  # as errors.install answers it
            reason = getattr(e, "reason", None) or errors.REASONS.get(e.status_code, "error")
            message = e.detail if isinstance(e.detail, str) else str(e.detail)
            status, content, headers = e.status_code, errors.body(message, reason), e.headers
        except Exception:
            log.exception("unhandled error on POST %s", path)
            status, content, headers = 500, errors.body("internal error", "internal"), None
        await _answer(send, status, content, headers)


def _plain_bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The Bearer token of a call that is not a browser's (no Origin, no Referer)."""
    token = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not rest.strip():
                return None
            token = rest.strip()
        elif name in (b"origin", b"referer"):
            return None
    return token


async def _read(receive: Receive) -> tuple[bytes, list[Message]]:
    """The request body, and any message that came instead of the rest (a disconnect)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


def _replay(body: bytes, more: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the body read already, then goes on as `receive`."""
    queued: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *more]

    async def again() -> Message:
        return queued.pop(0) if queued else await receive()

    return again


async def _answer(
    send: Send, status: int, content: Any, headers: dict[str, str] | None = None
) -> None:
    """`content` as Starlette's JSONResponse sends it."""
    data = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")  # fmt: skip
    raw = [(b"content-length", str(len(data)).encode()), (b"content-type", b"application/json")]
    for k, v in (headers or {}).items():
        raw.append((k.lower().encode("latin-1"), v.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
