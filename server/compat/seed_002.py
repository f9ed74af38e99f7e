"""The third seed's API: `POST /api/v1/engine` with a `command`, and `/api/v1/auth/*`.

Commands CREATE_ACCOUNT, GET_BALANCE, GET_USD_BALANCE, CREATE_TRADE (asset "SOL_USDC",
direction LONG|SHORT, margin, leverage, stopLossPrice, takeProfitPrice) and CLOSE_TRADE
(tradeId) answer `{success, orderId, engineResponse: {status, data, message}, latency}`.
The token may come as the cookie `authToken` (the seed's name) as well as `token`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..errors import ApiError, errors
from ..jsonbody import DecimalIn, ExactJSONRoute, PriceIn
from ..orders import balance_body, cents
from ..routes import auth
from ..routes.auth import client_of, register_user, set_cookies
from ..routes.trade import close_trade, open_trade
from ..schemas import AuthOut, Email, ErrorOut, In, MeOut, Name, RegisterIn, TradeIn
from ..state import Authed, State

router = APIRouter(route_class=ExactJSONRoute, prefix="/api/v1", tags=["seed: /api/v1/engine"])


class SignupIn(In):
    email: Email
    password: str = Field(min_length=8, max_length=256)
    name: Name | None = None
    margin_mode: Literal["isolated", "cross"] = "isolated"


class EngineIn(In):
    command: Literal["CREATE_ACCOUNT", "GET_BALANCE", "GET_USD_BALANCE", "CREATE_TRADE",
                     "CLOSE_TRADE"]  # fmt: skip
    asset: str | None = Field(None, min_length=1, max_length=32)
    direction: Literal["LONG", "SHORT", "long", "short"] | None = None
    margin: DecimalIn | None = None
    qty: DecimalIn | None = None
    leverage: DecimalIn | None = None
    stopLossPrice: PriceIn | None = None
    takeProfitPrice: PriceIn | None = None
    tradeId: str | None = Field(None, min_length=1, max_length=64)


class EngineResponse(BaseModel):
    status: Literal["success", "error"]
    data: dict[str, Any] | None
    message: str


class EngineOut(BaseModel):
    success: bool
    orderId: str
    engineResponse: EngineResponse
    latency: int = Field(description="milliseconds the server took")
    error: str | None = None
    reason: str | None = None


@router.post("/auth/signup", status_code=201, response_model=AuthOut,
             responses=errors(409, 413, 422, 429))  # fmt: skip
async def signup(body: SignupIn, request: Request, response: Response, state: State) -> dict:
    """Register (the seed's name); sets the cookies `authToken` and `token`."""
    reg = RegisterIn(name=body.name or body.email.split("@")[0], email=body.email,
                     password=body.password, margin_mode=body.margin_mode)  # fmt: skip
    user, token = await register_user(state, reg, client_of(request))
    set_cookies(state, response, token)
    return {"message": "signed up", "user": user.public(), "token": token}


# signin and me are the same calls as /auth/login and /auth/me, under the seed's names
router.add_api_route(
    "/auth/signin",
    auth.login,
    methods=["POST"],
    response_model=AuthOut,
    responses=errors(401, 413, 422, 429),
    summary="Signin (as /auth/login)",
)
router.add_api_route("/auth/me", auth.me, methods=["GET"], response_model=MeOut,
                     responses=errors(401), summary="Me (as /auth/me)")  # fmt: skip


@router.post("/engine", response_model=EngineOut, responses={
    **errors(401, 413), 400: {"model": EngineOut}, 404: {"model": EngineOut},
    409: {"model": EngineOut},
    422: {"model": EngineOut | ErrorOut,
          "description": "the envelope for a refused command; {error, reason} for a body "
                         "that is not a command"}})  # fmt: skip
async def engine(body: EngineIn, session: Authed, state: State) -> Any:
    """One engine command; the answer's `engineResponse.status` says how it went."""
    started = time.perf_counter()
    order_id = str(uuid.uuid4())
    try:
        data, message = await _run(body, session.account, state)
        if body.command in ("CREATE_TRADE", "CLOSE_TRADE"):
            order_id = data["id"]
        ok, status, err = True, 200, None
    except ApiError as e:
        data, message, ok, status, err = None, str(e.detail), False, e.status_code, e
    out: dict[str, Any] = {
        "success": ok, "orderId": order_id,
        "engineResponse": {"status": "success" if ok else "error", "data": data,
                           "message": message},
        "latency": round((time.perf_counter() - started) * 1000),
    }  # fmt: skip
    if err is not None:
        out["error"], out["reason"] = str(err.detail), err.reason
    return JSONResponse(out, status)


async def _run(body: EngineIn, account: str, state: State) -> tuple[dict[str, Any], str]:
    desk = state.desk
    if body.command in ("CREATE_ACCOUNT", "GET_BALANCE", "GET_USD_BALANCE"):
        figs, _ = await desk.summary(account)
        full = balance_body(account, figs)
        if body.command == "GET_USD_BALANCE":
            return {"symbol": "USD", "balance": cents(figs["balance"]), "decimals": 2,
                    "exact": full["balance"]}, "USD balance"  # fmt: skip
        note = "account ready (created at signup)" if body.command == "CREATE_ACCOUNT" else "ok"
        return full, note
    if body.command == "CREATE_TRADE":
        if body.asset is None or body.direction is None or body.leverage is None:
            raise ApiError(422, "CREATE_TRADE needs asset, direction and leverage",
                           "invalid_request")  # fmt: skip
        trade = TradeIn(asset=body.asset, side=body.direction.lower(), leverage=body.leverage,
                        margin=body.margin, qty=body.qty, takeProfit=body.takeProfitPrice,
                        stopLoss=body.stopLossPrice)  # fmt: skip
        return await open_trade(desk, account, trade), "trade created"
    if body.tradeId is None:
        raise ApiError(422, "CLOSE_TRADE needs tradeId", "invalid_request")
    return await close_trade(desk, account, body.tradeId), "trade closed"
