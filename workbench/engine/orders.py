"""Pending limit and stop orders: placement checks, modify, cancel, expiry and fills.

Nothing is reserved while an order waits. A quote that reaches an order's price fills
it at that quote's opening-side price, sized and checked for margin at that moment.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

from ..domain import LIMIT, LONG, ORDER_KINDS, SIDE_NAMES, Account, Order, SymbolBook
from ..money import fmt_decimal, fmt_money, fmt_qty
from . import index
from .errors import Rejected
from .positions import KEEP, Positions, check_brackets, check_size, parse_price, parse_size
from .state import NEVER, EngineState


def check_trail(value: object) -> int | None:
    """A trailing-stop distance: a positive price difference (None: no trailing stop)."""
    return parse_price(value, "trailing_stop")


def check_expiry(expires: object, t: int) -> int | None:
    if expires is None:
        return None
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise Rejected("invalid_order", "expires must be an engine time in integer "
                       f"microseconds, not {expires!r}")  # fmt: skip
    if expires <= t:
        raise Rejected("invalid_order", f"expires {expires} is not after the time of the "
                       f"order ({t}): it would never be live")  # fmt: skip
    return expires


def check_side(book: SymbolBook, side: int, kind: str, price: int) -> None:
    """A long limit below the ask, a long stop above it; a short limit above the bid, a
    short stop below it (as at Exness)."""
    fmt = book.fmt
    if side == LONG:
        ok = price < book.ask if kind == LIMIT else price > book.ask
        where, ref_name, ref = ("below" if kind == LIMIT else "above"), "ask", book.ask
    else:
        ok = price > book.bid if kind == LIMIT else price < book.bid
        where, ref_name, ref = ("above" if kind == LIMIT else "below"), "bid", book.bid
    if not ok:
        name = f"a {SIDE_NAMES[side]} {kind}"
        raise Rejected("invalid_order", f"{name}'s price {fmt(price)} must be {where} the "
                       f"{ref_name} {fmt(ref)}")  # fmt: skip


class Orders:
    """The pending orders of every account, their expiry heap, and their fills."""

    def __init__(self, state: EngineState, positions: Positions) -> None:
        self.s = state
        self.positions = positions
        self.expiries: list[tuple[int, int, Order]] = []

    # ------------------------------------------------------------- placement
    def place(
        self, acct: Account, ref: str, symbol: object, side: object, kind: object,
        price: object, leverage: object, margin: object, qty: object, take_profit: object,
        stop_loss: object, trailing_stop: object, expires: object, t: int,
    ) -> dict[str, Any]:  # fmt: skip
        """Check and book a pending order; the `order_placed` fields, or Rejected."""
        if ref in acct.positions or ref in acct.orders:
            raise Rejected("invalid_order", f"{ref!r} is already an open position or a "
                           f"pending order of {acct.name}")  # fmt: skip
        book = self.s.book_of(symbol)
        s, lev, m, q = parse_size(book, side, leverage, margin, qty)
        check_size(book, lev, m, q)
        if kind not in ORDER_KINDS:
            raise Rejected("invalid_order", f"kind must be 'limit' or 'stop', not {kind!r}")
        p = parse_price(price, "price")
        if p is None:
            raise Rejected("invalid_order", "a pending order needs a price")
        tp = parse_price(take_profit, "take_profit")
        sl = parse_price(stop_loss, "stop_loss")
        trail = check_trail(trailing_stop)
        exp = check_expiry(expires, t)
        self.s.require_fresh(book, t)
        order = Order(self.s.next_oid, acct, ref, book, s, str(kind), p, m, q, lev, t)
        order.tp, order.sl, order.trail, order.expires = tp, sl, trail, exp
        self._check(order, margin)
        self.s.next_oid += 1
        acct.orders[ref] = order
        index.add_order(order, self.s.accounts)
        if exp is not None:
            self._push_expiry(order)
        return self.fields(order)

    def _check(self, o: Order, margin_text: object = None) -> None:
        """What placement and a modify check: the side of the market, the brackets against
        the order's price, a size of at least 1e-8, and a spread that would not liquidate
        an isolated position at once."""
        book = o.book
        check_side(book, o.side, o.kind, o.price)
        check_brackets(o.side, book.fmt, o.tp, o.sl, o.price, "the order price")
        q, m, fee = self.positions.size(book, o.leverage, o.margin, o.qty, o.price, margin_text)
        pos = self.positions.build(o.account, o.ref, book, o.side, q, o.price, m, o.leverage,
                                   fee, None, None, o.placed_t)  # fmt: skip
        spread = book.ask - book.bid
        if pos.liq is not None:
            close_at = o.price - spread if o.side == LONG else o.price + spread
            if (close_at <= pos.liq) if o.side == LONG else (close_at >= pos.liq):
                raise Rejected("invalid_order", f"at leverage {fmt_decimal(o.leverage)} the "
                               "spread alone would liquidate this position when it opens "
                               f"(liquidation at {book.fmt(pos.liq)}): lower the "
                               "leverage")  # fmt: skip

    def fields(self, o: Order) -> dict[str, Any]:
        """The order as event fields (`order_placed`)."""
        fmt = o.book.fmt
        out: dict[str, Any] = {
            "account": o.account.name, "ref": o.ref, "symbol": o.book.inst.symbol,
            "side": SIDE_NAMES[o.side], "kind": o.kind, "price": fmt(o.price),
        }  # fmt: skip
        if o.margin is not None:
            out["margin"] = fmt_money(o.margin)
        else:
            assert o.qty is not None
            out["qty"] = fmt_qty(o.qty)
        out["leverage"] = fmt_decimal(o.leverage)
        for key, value in (("take_profit", o.tp), ("stop_loss", o.sl),
                           ("trailing_stop", o.trail)):  # fmt: skip
            if value is not None:
                out[key] = fmt(value)
        if o.expires is not None:
            out["expires"] = o.expires
        return out

    # ---------------------------------------------------------------- modify
    def modify(
        self, o: Order, price: object, expires: object, take_profit: object,
        stop_loss: object, trailing_stop: object, t: int,
    ) -> dict[str, Any]:  # fmt: skip
        """Change what is given (KEEP: unchanged, None: removed); checked as at placement."""
        self.s.require_fresh(o.book, t)
        new_price = o.price
        if price is not KEEP:
            p = parse_price(price, "price")
            if p is None:
                raise Rejected("invalid_order", "a pending order's price cannot be removed")
            new_price = p
        tp = o.tp if take_profit is KEEP else parse_price(take_profit, "take_profit")
        sl = o.sl if stop_loss is KEEP else parse_price(stop_loss, "stop_loss")
        trail = o.trail if trailing_stop is KEEP else check_trail(trailing_stop)
        exp = o.expires if expires is KEEP else check_expiry(expires, t)
        trial = Order(o.oid, o.account, o.ref, o.book, o.side, o.kind, new_price, o.margin,
                      o.qty, o.leverage, t)  # fmt: skip
        trial.tp, trial.sl = tp, sl
        self._check(trial, None if o.margin is None else fmt_money(o.margin))
        moved = new_price != o.price
        o.price, o.tp, o.sl, o.trail = new_price, tp, sl, trail
        if exp != o.expires:
            o.expires = exp
            if exp is not None:
                self._push_expiry(o)
        if moved:
            index.add_order(o, self.s.accounts)
        fmt = o.book.fmt
        return {
            "account": o.account.name, "ref": o.ref, "price": fmt(o.price),
            "expires": o.expires, "take_profit": None if tp is None else fmt(tp),
            "stop_loss": None if sl is None else fmt(sl),
            "trailing_stop": None if trail is None else fmt(trail),
        }  # fmt: skip

    # ------------------------------------------------------- cancel, expiry
    def cancel(
        self, o: Order, t: int, reason: str, message: str | None = None
    ) -> dict[str, Any]:
        """Take an order off the book and emit `order_cancelled`."""
        o.live = False
        del o.account.orders[o.ref]
        fields: dict[str, Any] = {"account": o.account.name, "ref": o.ref, "reason": reason}
        if message is not None:
            fields["message"] = message
        return self.s.emit(t, "order_cancelled", fields)

    def _push_expiry(self, o: Order) -> None:
        assert o.expires is not None
        heappush(self.expiries, (o.expires, o.oid, o))
        self._set_next()

    def _set_next(self) -> None:
        h = self.expiries
        while h and not (h[0][2].live and h[0][2].expires == h[0][0]):
            heappop(h)
        self.s.next_expiry = h[0][0] if h else NEVER
        self.s.set_wake()

    def expire(self, t: int) -> None:
        """Cancel every order with expires <= t (earliest first, placement order on ties)."""
        h = self.expiries
        while h and h[0][0] <= t:
            expires, _, o = heappop(h)
            if o.live and o.expires == expires:
                self.cancel(o, t, "expired")
        self._set_next()

    def rebuild(self) -> None:
        """Index every order again (after a restore)."""
        orders = [o for a in self.s.accounts for o in a.orders.values()]
        index.add_orders(orders)
        self.expiries = [(o.expires, o.oid, o) for o in orders if o.expires is not None]
        self.expiries.sort(key=lambda e: (e[0], e[1]))
        self._set_next()

    # ------------------------------------------------------------------ fill
    def fill(self, o: Order, t: int) -> None:
        """Open the order's position at this quote's opening-side price, or cancel it when
        the account cannot afford it now."""
        book = o.book
        price = book.ask if o.side == LONG else book.bid
        acct = o.account
        try:
            q, m, fee = self.positions.size(book, o.leverage, o.margin, o.qty, price,
                                            None if o.margin is None else fmt_money(o.margin))
            self.positions.afford(acct, m, fee)
        except Rejected as r:
            self.cancel(o, t, "insufficient_margin", r.message)
            return
        o.live = False
        del acct.orders[o.ref]
        pos = self.positions.build(acct, o.ref, book, o.side, q, price, m, o.leverage, fee,
                                   o.tp, o.sl, t)  # fmt: skip
        self.s.emit(t, "opened", self.positions.book_open(pos, o.trail, t, order=o.kind))
