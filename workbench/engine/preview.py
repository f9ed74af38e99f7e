"""What an order would give if it filled now: its price, quantity, margin, fee, the free
margin left and the liquidation price, by the engine's own rules, changing nothing.

`preview` runs the checks and the sizing of `Engine.open` (a market order) or of a pending
order's placement (`kind` limit or stop, filled at its `price`) on a position that is built
but never booked: no event, no state change. A refusal is the engine's own: the reason and
message the command would be rejected with.
"""

from __future__ import annotations

from typing import Any

from ..domain import ISOLATED, LONG, ORDER_KINDS, SIDE_NAMES, Order
from ..money import fmt_decimal, fmt_money, fmt_qty
from .commands import Trading
from .errors import Rejected
from .orders import check_expiry, check_side, check_trail
from .positions import (
    check_brackets,
    check_market_brackets,
    check_size,
    parse_price,
    parse_size,
)
from .views import figures_units

Preview = dict[str, Any]


def preview(
    engine: Trading, account: str, symbol: str, side: str, leverage: object, *,
    margin: object = None, qty: object = None, price: object = None, kind: str = "market",
    take_profit: object = None, stop_loss: object = None, trailing_stop: object = None,
    expires: int | None = None, t: int | None = None,
) -> Preview:  # fmt: skip
    """The figures of this order at time `t` (engine time if None), as decimal text.

    `ok` is False when the engine would refuse it (`reason`, `message`); the figures are
    there whenever the order could be sized (an order the account cannot afford has them).
    A pending order's margin is checked when it fills, so its preview is not refused for it.
    """
    t = max(engine.now, 0) if t is None else t
    pos_ = engine._positions
    try:
        acct = engine.by_name.get(account)
        if acct is None:
            raise Rejected("invalid_order", f"unknown account {account!r}")
        book = engine.book_of(symbol)
        s, lev, m, q = parse_size(book, side, leverage, margin, qty)
        market = kind == "market"
        if market:  # the checks of Engine.open, in its order
            tp = parse_price(take_profit, "take_profit")
            sl = parse_price(stop_loss, "stop_loss")
            check_trail(trailing_stop)
            check_size(book, lev, m, q)
            engine.require_fresh(book, t)
            fill = book.ask if s == LONG else book.bid
            check_market_brackets(s, book, tp, sl)
        else:  # the checks of a pending order's placement, in its order
            check_size(book, lev, m, q)
            if kind not in ORDER_KINDS:
                raise Rejected("invalid_order", f"kind must be 'limit' or 'stop', not {kind!r}")
            p = parse_price(price, "price")
            if p is None:
                raise Rejected("invalid_order", "a pending order needs a price")
            tp = parse_price(take_profit, "take_profit")
            sl = parse_price(stop_loss, "stop_loss")
            check_trail(trailing_stop)
            check_expiry(expires, t)
            engine.require_fresh(book, t)
            check_side(book, s, kind, p)
            check_brackets(s, book.fmt, tp, sl, p, "the order price")
            fill = p
        q, m, fee = pos_.size(book, lev, m, q, fill, margin)
        pos = pos_.build(acct, "preview", book, s, q, fill, m, lev, fee, tp, sl, t)
    except Rejected as r:
        return {"ok": False, "reason": r.reason, "message": r.message}
    if market:
        close_at = pos.close_price()
    else:  # the price it closes at when it fills: the order's price across today's spread
        spread = book.ask - book.bid
        close_at = fill - spread if s == LONG else fill + spread
    upnl = pos.upnl_at(close_at)
    if acct.mode == ISOLATED:
        upnl = max(upnl, -m)  # as the account figures count an isolated position
    _bal, _eq, _used, free = figures_units(acct)
    out: Preview = {
        "ok": True, "reason": None, "message": None, "symbol": book.inst.symbol,
        "side": SIDE_NAMES[s], "kind": kind, "price": book.fmt(fill), "qty": fmt_qty(q),
        "margin": fmt_money(m), "fee": fmt_money(fee), "leverage": fmt_decimal(lev),
        "free_margin": fmt_money(free), "free_margin_after": fmt_money(free - fee - m + upnl),
        "liquidation_price": None if pos.liq is None else book.fmt(pos.liq),
        "margin_mode": acct.mode,
    }  # fmt: skip
    try:
        if market:
            pos_.afford(acct, m, fee)
            if pos_.spread_liquidates(pos):
                raise Rejected(
                    "invalid_order",
                    f"at leverage {fmt_decimal(lev)} the spread alone would liquidate this "
                    f"position at once (liquidation at {book.fmt(pos.liq or 0)}, closing "
                    f"price {book.fmt(pos.close_price())}): lower the leverage",
                )
        else:
            size = (None if margin is None else m), (None if qty is None else q)
            order = Order(engine.next_oid, acct, "preview", book, s, kind, fill, *size, lev, t)
            order.tp, order.sl = tp, sl
            engine._orders._check(order, margin)
    except Rejected as r:
        out.update(ok=False, reason=r.reason, message=r.message)
    return out
