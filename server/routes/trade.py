"""`/trade/*`: open, close and list orders. The engine alone prices and settles them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import JSONResponse

from workbench.live.desk import Desk

from ..errors import ApiError, errors, rejected
from ..jsonbody import ExactJSONRoute
from ..order_calls import close_part
from ..order_schemas import CloseOut, CloseQtyIn
from ..orders import closed_now, closed_order, open_order, symbol_of
from ..schemas import OrderCreatedOut, OrderEnvelopeOut, OrdersOut, TradeIn
from ..state import Authed, State

router = APIRouter(route_class=ExactJSONRoute, tags=["trade"])
OrderId = Path(min_length=1, max_length=64)


async def open_trade(desk: Desk, user_id: str, body: TradeIn) -> dict[str, Any]:
    """Open through the engine; the order in the seed's shape, or an ApiError."""
    known = await desk.symbols()
    symbol = symbol_of(body.asset, known)
    if symbol is None:
        raise ApiError(422, f"unknown asset {body.asset!r} (known: {', '.join(known)})",
                       "invalid_order")  # fmt: skip
    ev, pos = await desk.open(
        user_id, symbol, body.side, body.leverage, margin=body.margin, qty=body.qty,
        take_profit=body.takeProfit, stop_loss=body.stopLoss,
    )  # fmt: skip
    if ev["type"] == "rejected":
        raise rejected(ev)
    if pos is not None:
        return open_order(user_id, pos)
    # filled and closed already by a quote in the same engine step: read it back
    return await find_order(desk, user_id, ev["ref"])


async def close_trade(desk: Desk, user_id: str, order_id: str) -> dict[str, Any]:
    """Close at the engine's price; the closed order, or 404 for unknown / not yours."""
    ev, pos = await desk.close(user_id, order_id)
    if ev["type"] == "rejected":
        if ev["reason"] == "unknown_position":
            raise ApiError(404, f"no open order {order_id!r}", "unknown_position")
        raise rejected(ev)
    assert pos is not None
    if desk.closed_in_parts(user_id, order_id):  # the sum of its parts, as listed
        return await find_order(desk, user_id, order_id)
    return closed_now(user_id, pos, ev)


async def find_order(desk: Desk, user_id: str, order_id: str) -> dict[str, Any]:
    pos = await desk.position(user_id, order_id)
    if pos is not None:
        return open_order(user_id, pos)
    rows = await desk.closed_orders(user_id, order_id)
    if rows:
        return closed_order(user_id, *rows[0])
    raise ApiError(404, f"no order {order_id!r}", "unknown_order")


@router.post("/trade/create", status_code=201, response_model=OrderCreatedOut,
             responses=errors(400, 401, 404, 409, 413, 422))  # fmt: skip
async def create(body: TradeIn, session: Authed, state: State) -> Response:
    """Open a position: `asset`, `side`, `leverage`, and `margin` (USD) or `qty`; optional
    `takeProfit` / `stopLoss`. Rejections carry the engine's reason."""
    order = await open_trade(state.desk, session.account, body)
    # built to the documented schema here: a hot route, not validated a second time
    return JSONResponse({"orderId": order["id"], "order": order}, 201)


router.add_api_route(
    "/trade/open", create, methods=["POST"], status_code=201, response_model=OrderCreatedOut,
    responses=errors(400, 401, 404, 409, 413, 422), summary="Open (alias of /trade/create)",
)  # fmt: skip


@router.post("/trade/close/{orderId}", response_model=CloseOut,
             responses=errors(400, 401, 404, 409, 413, 422))  # fmt: skip
async def close(
    session: Authed, state: State, orderId: str = OrderId,  # noqa: N803
    body: CloseQtyIn | None = Body(None),
) -> Response:  # fmt: skip
    """Close at the current closing-side price; `{"qty": ...}` closes only that part
    (`{order, reduced}`: the position after, and the part's figures). A `pnl` or price in
    the body is ignored."""
    if body is not None and body.qty is not None:
        return JSONResponse(await close_part(state.desk, session.account, orderId, body.qty))
    return JSONResponse({"order": await close_trade(state.desk, session.account, orderId)})


@router.get("/trade/orders", response_model=OrdersOut, responses=errors(401, 422))
async def orders(
    session: Authed, state: State, status: Literal["open", "closed"] | None = Query(None)
) -> dict:
    """Your orders, newest first: open ones with live `upnl`, closed ones with `pnl`."""
    out: dict[str, dict[str, Any]] = {}
    if status in (None, "open"):
        _, positions = await state.desk.summary(session.account)
        out.update((p["ref"], open_order(session.account, p)) for p in positions)
    if status in (None, "closed"):
        rows = await state.desk.closed_orders(session.account)
        closed = {r[1]["ref"]: closed_order(session.account, *r) for r in rows}
        out.update(closed)  # one that closed between the two reads is shown closed
    orders = sorted(out.values(), key=lambda o: o["openedAt"], reverse=True)
    return {"orders": orders}


@router.get("/trade/orders/{orderId}", response_model=OrderEnvelopeOut,
            responses=errors(401, 404, 422))  # fmt: skip
async def order(session: Authed, state: State, orderId: str = OrderId) -> dict:  # noqa: N803
    """One of your orders (404 for an unknown order and for another user's alike)."""
    return {"order": await find_order(state.desk, session.account, orderId)}
