"""Pending orders, modify and partial close through the desk, answered in the API's shapes.

Each call is one engine command; a rejection becomes an `ApiError` with the engine's
reason, and an order that is unknown, filled, cancelled or another user's is the same 404.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workbench.engine import KEEP
from workbench.live.desk import Desk

from .errors import ApiError, rejected
from .order_schemas import ModifyIn, OrderIn
from .orders import (
    closed_now,
    closed_order,
    iso,
    open_order,
    pending_order,
    placed_view,
    reduction,
    symbol_of,
)

#: ModifyIn's fields and the engine's names for them
MODIFIABLE = {
    "takeProfit": "take_profit", "stopLoss": "stop_loss", "trailingStop": "trailing_stop",
    "price": "price", "expiresAt": "expires",
}  # fmt: skip


async def resolve(desk: Desk, asset: str) -> str:
    """The engine's symbol of an asset name, or 422 listing the known ones."""
    known = await desk.symbols()
    symbol = symbol_of(asset, known)
    if symbol is None:
        raise ApiError(422, f"unknown asset {asset!r} (known: {', '.join(known)})",
                       "invalid_order")  # fmt: skip
    return symbol


def not_found(order_id: str, what: str) -> ApiError:
    return ApiError(404, f"no {what} {order_id!r}", "unknown_order")


def check_future(expires: int | None, now_us: int, what: str = "expiresAt") -> None:
    """422 unless the expiry is after the engine's clock (the order would never be live)."""
    if expires is not None and expires <= now_us:
        raise ApiError(422, f"{what} {iso(expires)} is not in the future (now {iso(now_us)}): "
                       "the order would never be live", "invalid_order")  # fmt: skip


async def place_pending(desk: Desk, user_id: str, body: OrderIn, now_us: int) -> dict[str, Any]:
    """Place a limit or stop order; the pending order, or an ApiError."""
    if body.price is None:
        raise ApiError(422, f"a {body.type} order needs a price", "invalid_order")
    check_future(body.expiresAt, now_us)
    symbol = await resolve(desk, body.asset)
    ev = await desk.order(
        user_id, symbol, body.side, body.type, body.price, body.leverage, margin=body.margin,
        qty=body.qty, take_profit=body.takeProfit, stop_loss=body.stopLoss,
        trailing_stop=body.trailingStop, expires=body.expiresAt,
    )  # fmt: skip
    if ev["type"] == "rejected":
        raise rejected(ev)
    return pending_order(user_id, placed_view(ev))


async def cancel(desk: Desk, user_id: str, order_id: str) -> dict[str, Any]:
    """Cancel a pending order; the order as cancelled, or 404."""
    ev, before = await desk.cancel(user_id, order_id)
    if ev["type"] == "rejected":
        if ev["reason"] == "unknown_order":
            raise not_found(order_id, "pending order")
        raise rejected(ev)
    assert before is not None
    return pending_order(user_id, before, "cancelled", ev["reason"], ev["t"])


async def modify(
    desk: Desk, user_id: str, order_id: str, body: ModifyIn, now_us: int
) -> dict[str, Any]:
    """Change what the body gives of an open position or a pending order; it after."""
    given = {MODIFIABLE[k]: getattr(body, k) for k in body.model_fields_set if k in MODIFIABLE}
    if not given:
        raise ApiError(422, "nothing to change: give takeProfit, stopLoss, trailingStop, "
                       "price or expiresAt (null removes one)", "invalid_order")  # fmt: skip
    check_future(given.get("expires"), now_us)
    changes: dict[str, Any] = {k: given.get(k, KEEP) for k in MODIFIABLE.values()}
    ev, pos, pending = await desk.modify(user_id, order_id, **changes)
    if ev["type"] == "rejected":
        if ev["reason"] == "unknown_order":
            raise not_found(order_id, "open order or pending order")
        raise rejected(ev)
    if pos is not None:
        return open_order(user_id, pos)
    if pending is not None:
        return pending_order(user_id, pending)
    raise not_found(order_id, "open order or pending order")  # gone in the same step


async def close_part(desk: Desk, user_id: str, order_id: str, qty: Decimal) -> dict[str, Any]:
    """Close `qty` of an open position: `{order, reduced}` with the position after, or
    `{order}` closed when `qty` was all of it."""
    ev, pos = await desk.close(user_id, order_id, qty)
    if ev["type"] == "rejected":
        if ev["reason"] == "unknown_position":
            raise ApiError(404, f"no open order {order_id!r}", "unknown_position")
        raise rejected(ev)
    if ev["type"] == "reduced":
        if pos is None:  # closed by a trigger within the same step: read it back
            return {"order": await closed(desk, user_id, order_id), "reduced": reduction(ev)}
        return {"order": open_order(user_id, pos), "reduced": reduction(ev)}
    assert pos is not None
    if desk.closed_in_parts(user_id, order_id):
        return {"order": await closed(desk, user_id, order_id)}
    return {"order": closed_now(user_id, pos, ev)}


async def closed(desk: Desk, user_id: str, order_id: str) -> dict[str, Any]:
    """A closed order from the history (all its parts)."""
    rows = await desk.closed_orders(user_id, order_id)
    if not rows:
        raise ApiError(404, f"no order {order_id!r}", "unknown_order")
    return closed_order(user_id, *rows[0])


async def pending(desk: Desk, user_id: str, order_id: str | None = None) -> list[dict[str, Any]]:
    """The user's pending orders (only `order_id` when given), in placement order."""
    return [pending_order(user_id, o) for o in await desk.pending(user_id, order_id)]
