"""`/trade/orders` (POST, PATCH), `/trade/pending*`, `/trade/modify`: market, limit and stop
orders, their cancel, and changes to an open position's or a pending order's TP, SL,
trailing stop, price and expiry. The engine alone checks, fills and settles them."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from .. import order_calls as calls
from ..errors import ApiError, errors, rejected
from ..jsonbody import ExactJSONRoute
from ..order_schemas import (
    ModifiedOut,
    ModifyIn,
    OrderIn,
    PendingEnvelopeOut,
    PendingOrdersOut,
    PlacedOut,
)
from ..orders import open_order
from ..state import Authed, State
from .trade import find_order

router = APIRouter(route_class=ExactJSONRoute, tags=["orders"])
OrderId = Path(min_length=1, max_length=64)


@router.post("/trade/orders", status_code=201, response_model=PlacedOut,
             responses=errors(400, 401, 404, 409, 413, 422))  # fmt: skip
async def place(body: OrderIn, session: Authed, state: State) -> Response:
    """Place an order. `type` market (default) opens a position now, as `/trade/create`
    (status open); `limit` or `stop` waits for `price` (status pending): a long limit below
    the ask, a long stop above it, a short limit above the bid, a short stop below it.
    `takeProfit`, `stopLoss` (on the right side of `price`) and `trailingStop` (a price
    distance) pass to the position; `expiresAt` (ISO time or epoch seconds) cancels a
    pending order that has not filled by then."""
    user = session.account
    if body.type != "market":
        order = await calls.place_pending(state.desk, user, body, state.clock())
        return JSONResponse({"orderId": order["id"], "order": order}, 201)
    if body.price is not None or body.expiresAt is not None:
        raise ApiError(422, "price and expiresAt are for limit and stop orders: a market "
                       "order fills at once at the market's price", "invalid_order")  # fmt: skip
    symbol = await calls.resolve(state.desk, body.asset)
    ev, pos = await state.desk.open(
        user, symbol, body.side, body.leverage, margin=body.margin, qty=body.qty,
        take_profit=body.takeProfit, stop_loss=body.stopLoss, trailing_stop=body.trailingStop,
    )  # fmt: skip
    if ev["type"] == "rejected":
        raise rejected(ev)
    order = open_order(user, pos) if pos is not None else await find_order(state.desk, user,
                                                                            ev["ref"])  # fmt: skip
    return JSONResponse({"orderId": order["id"], "order": order}, 201)


@router.get("/trade/pending", response_model=PendingOrdersOut, responses=errors(401))
async def pending(session: Authed, state: State) -> dict:
    """Your orders waiting to fill, in the order they were placed."""
    return {"orders": await calls.pending(state.desk, session.account)}


@router.get("/trade/pending/{orderId}", response_model=PendingEnvelopeOut,
            responses=errors(401, 404, 422))  # fmt: skip
async def pending_one(session: Authed, state: State, orderId: str = OrderId) -> dict:  # noqa: N803
    """One of your waiting orders (404 for an unknown, filled, cancelled or another
    user's order alike)."""
    found = await calls.pending(state.desk, session.account, orderId)
    if not found:
        raise calls.not_found(orderId, "pending order")
    return {"order": found[0]}


@router.delete("/trade/pending/{orderId}", response_model=PendingEnvelopeOut,
               responses=errors(401, 404, 422))  # fmt: skip
async def cancel(session: Authed, state: State, orderId: str = OrderId) -> dict:  # noqa: N803
    """Cancel a waiting order: the order with status cancelled (404 for an unknown,
    filled, cancelled or another user's order alike)."""
    return {"order": await calls.cancel(state.desk, session.account, orderId)}


router.add_api_route(
    "/trade/pending/{orderId}/cancel", cancel, methods=["POST"],
    response_model=PendingEnvelopeOut, responses=errors(401, 404, 413, 422),
    summary="Cancel (POST alias of DELETE /trade/pending/{orderId})",
)  # fmt: skip


@router.patch("/trade/orders/{orderId}", response_model=ModifiedOut,
              responses=errors(401, 404, 409, 413, 422))  # fmt: skip
async def modify(
    body: ModifyIn,
    session: Authed,
    state: State,
    orderId: str = OrderId,  # noqa: N803
) -> dict:
    """Change an open position's `takeProfit`, `stopLoss`, `trailingStop`, or a pending
    order's (and its `price`, `expiresAt`). Only the fields given change; `null` removes
    one. Checked as at placement: 422 with the engine's reason; 404 for an unknown,
    filled, closed, cancelled or another user's order alike."""
    return {"order": await calls.modify(state.desk, session.account, orderId, body,
                                        state.clock())}  # fmt: skip


router.add_api_route(
    "/trade/modify/{orderId}", modify, methods=["POST"], response_model=ModifiedOut,
    responses=errors(401, 404, 409, 413, 422),
    summary="Modify (POST alias of PATCH /trade/orders/{orderId})",
)  # fmt: skip
