"""The second seed's API: `GET /api/v1/state`, `POST /api/v1/positions/open|close`.

Its `currentPrice` fields are accepted and ignored: the engine alone prices a trade.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..errors import errors
from ..jsonbody import DecimalIn, ExactJSONRoute, PriceIn
from ..orders import balance_body, open_order
from ..routes.trade import close_trade, open_trade
from ..schemas import BalanceOut, In, OrderOut, TradeIn
from ..state import Authed, State

router = APIRouter(route_class=ExactJSONRoute, prefix="/api/v1", tags=["seed: /api/v1/positions"])


class OpenIn(In):
    margin: DecimalIn
    asset: str = Field(min_length=1, max_length=32, description='"SOL", "BTC", ...')
    type: Literal["long", "short", "LONG", "SHORT"]
    leverage: DecimalIn
    currentPrice: DecimalIn | None = Field(None, description="ignored")
    takeProfit: PriceIn | None = None
    stopLoss: PriceIn | None = None


class CloseIn(In):
    positionId: str = Field(min_length=1, max_length=64)
    currentPrice: DecimalIn | None = Field(None, description="ignored")


class StateOut(BaseModel):
    balance: BalanceOut
    positions: list[OrderOut]


class PositionOut(BaseModel):
    success: bool
    position: OrderOut


@router.get("/state", response_model=StateOut, responses=errors(401))
async def get_state(session: Authed, state: State) -> dict[str, Any]:
    """Balances and open positions."""
    figs, positions = await state.desk.summary(session.account)
    return {"balance": balance_body(session.account, figs),
            "positions": [open_order(session.account, p) for p in positions]}  # fmt: skip


@router.post("/positions/open", status_code=201, response_model=PositionOut,
             responses=errors(400, 401, 409, 413, 422))  # fmt: skip
async def open_position(body: OpenIn, session: Authed, state: State) -> dict[str, Any]:
    trade = TradeIn(
        asset=body.asset, side=body.type.lower(), leverage=body.leverage, margin=body.margin,
        takeProfit=body.takeProfit, stopLoss=body.stopLoss,
    )  # fmt: skip
    return {"success": True, "position": await open_trade(state.desk, session.account, trade)}


@router.post("/positions/close", response_model=PositionOut,
             responses=errors(401, 404, 409, 413, 422))  # fmt: skip
async def close_position(body: CloseIn, session: Authed, state: State) -> dict[str, Any]:
    order = await close_trade(state.desk, session.account, body.positionId)
    return {"success": True, "position": order}
