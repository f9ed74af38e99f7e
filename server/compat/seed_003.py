"""The fourth seed's API: `POST /trades`, `POST /trades/{orderId}/close` (and `GET /balance`,
which is the spec's route already)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from ..errors import errors
from ..jsonbody import ExactJSONRoute
from ..routes.trade import close_trade, open_trade
from ..schemas import OrderCreatedOut, OrderEnvelopeOut, TradeIn
from ..state import Authed, State

router = APIRouter(route_class=ExactJSONRoute, tags=["seed: /trades"])


@router.post("/trades", status_code=201, response_model=OrderCreatedOut,
             responses=errors(400, 401, 409, 413, 422))  # fmt: skip
async def create_trade(body: TradeIn, session: Authed, state: State) -> dict[str, Any]:
    """Create an order (the same body as `POST /trade/create`)."""
    order = await open_trade(state.desk, session.account, body)
    return {"orderId": order["id"], "order": order}


@router.post("/trades/{orderId}/close", response_model=OrderEnvelopeOut,
             responses=errors(401, 404, 409, 413, 422))  # fmt: skip
async def close_order(
    session: Authed,
    state: State,
    orderId: str = Path(min_length=1, max_length=64),  # noqa: N803
) -> dict[str, Any]:
    """Close an order at the engine's price."""
    return {"order": await close_trade(state.desk, session.account, orderId)}
