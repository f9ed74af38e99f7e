"""Positions: sizing and checks of an open, settlement of closes and partial closes,
trigger reasons, brackets (TP/SL/trailing) and swap charges.

Everything here works on the shared `EngineState`; the commands that call it (and emit
its events) are the `Engine`'s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain import CROSS, ISOLATED, LONG, SIDE_NAMES, Account, Position, SymbolBook, side_of
from ..money import (
    BadNumber,
    ceil_charge,
    ceil_div,
    fmt_2dp,
    fmt_decimal,
    fmt_money,
    fmt_qty,
    money_units,
    price_units,
    qty_units,
    to_decimal,
)
from . import index, trailing
from .errors import Rejected
from .state import EngineState

MONEY_DP = 16
KEEP: Any = object()  # "not given" in a modify: the field stays as it is


def parse_size(
    book: SymbolBook, side: object, leverage: object, margin: object, qty: object
) -> tuple[int, Decimal, int | None, int | None]:
    """(side, leverage, margin units | None, qty units | None) of an order, or Rejected."""
    try:
        s = side_of(side)
        if leverage is None:
            raise BadNumber("leverage is required")
        lev = to_decimal(leverage, "leverage")
        if (margin is None) == (qty is None):
            raise BadNumber("give exactly one of margin or qty")
        m = money_units(margin, "margin") if margin is not None else None
        q = qty_units(qty, "qty") if qty is not None else None
    except BadNumber as e:
        raise Rejected("invalid_order", str(e)) from None
    return s, lev, m, q


def check_size(book: SymbolBook, lev: Decimal, m: int | None, q: int | None) -> None:
    """Leverage within 1..max_leverage and a positive size, or Rejected."""
    sym = book.inst.symbol
    if not 1 <= lev <= book.inst.max_leverage:
        raise Rejected("invalid_order", f"leverage {fmt_decimal(lev)} is outside 1.."
                       f"{fmt_decimal(book.inst.max_leverage)} for {sym}")  # fmt: skip
    if (m is not None and m <= 0) or (q is not None and q <= 0):
        raise Rejected("invalid_order", "the order size must be positive")


def parse_price(value: object, what: str) -> int | None:
    """A positive price in 1e-8 units (None stays None), or Rejected."""
    if value is None:
        return None
    try:
        p = price_units(value, what)
    except BadNumber as e:
        raise Rejected("invalid_order", str(e)) from None
    if p <= 0:
        raise Rejected("invalid_order", f"{what} must be positive, not {value}")
    return p


def check_brackets(
    side: int, fmt: Any, tp: int | None, sl: int | None, ref_price: int, what: str
) -> None:
    """A long needs stop_loss < ref < take_profit; a short take_profit < ref < stop_loss."""
    if side == LONG:
        if sl is not None and not sl < ref_price:
            raise Rejected("invalid_order", f"a long's stop_loss {fmt(sl)} must be below "
                           f"{what} {fmt(ref_price)}")  # fmt: skip
        if tp is not None and not tp > ref_price:
            raise Rejected("invalid_order", f"a long's take_profit {fmt(tp)} must be above "
                           f"{what} {fmt(ref_price)}")  # fmt: skip
    else:
        if tp is not None and not tp < ref_price:
            raise Rejected("invalid_order", f"a short's take_profit {fmt(tp)} must be below "
                           f"{what} {fmt(ref_price)}")  # fmt: skip
        if sl is not None and not sl > ref_price:
            raise Rejected("invalid_order", f"a short's stop_loss {fmt(sl)} must be above "
                           f"{what} {fmt(ref_price)}")  # fmt: skip


def check_market_brackets(side: int, book: SymbolBook, tp: int | None, sl: int | None) -> None:
    """TP/SL against the closing-side price: the bid for a long, the ask for a short."""
    if side == LONG:
        check_brackets(side, book.fmt, tp, sl, book.bid, "the bid")
    else:
        check_brackets(side, book.fmt, tp, sl, book.ask, "the ask")


class Positions:
    """The position lifecycle on the engine state."""

    def __init__(self, state: EngineState) -> None:
        self.s = state

    # ------------------------------------------------------------------ open
    def size(
        self, book: SymbolBook, lev: Decimal, m: int | None, q: int | None, price: int,
        margin_text: object = None,
    ) -> tuple[int, int, int]:  # fmt: skip
        """(qty, margin, fee) of an order filled at `price`."""
        num, den = lev.as_integer_ratio()
        if m is not None:
            q = m * num // (den * price)
            if q <= 0:
                raise Rejected("invalid_order", f"margin {margin_text} at leverage "
                               f"{fmt_decimal(lev)} buys less than 0.00000001 "
                               f"{book.inst.symbol}")  # fmt: skip
        else:
            assert q is not None
            m = ceil_charge(ceil_div(q * price * den, num))
        cn, cd = book.comm
        fee = ceil_charge(ceil_div(q * price * cn, cd)) if cn else 0
        return q, m, fee

    def afford(self, acct: Account, m: int, fee: int) -> None:
        """Rejected('insufficient_margin') unless the account can put up margin + fee."""
        free = acct.equity(self.s.books) - acct.used_margin
        if free < m + fee:
            need = fmt_2dp(m + fee, MONEY_DP)
            raise Rejected(
                "insufficient_margin",
                f"free margin {fmt_2dp(free, MONEY_DP)} USD is less than the {need} USD "
                "this order needs",
            )
        if acct.mode == ISOLATED:
            # Isolated margin is set aside from the balance: unrealised profit cannot fund it.
            spare = acct.balance - acct.used_margin
            if spare < m + fee:
                need = fmt_2dp(m + fee, MONEY_DP)
                raise Rejected(
                    "insufficient_margin",
                    f"the balance not in use, {fmt_2dp(spare, MONEY_DP)} USD, is less than the "
                    f"{need} USD this isolated order sets aside",
                )

    def build(
        self, acct: Account, ref: str, book: SymbolBook, side: int, q: int, price: int,
        m: int, lev: Decimal, fee: int, tp: int | None, sl: int | None, t: int,
    ) -> Position:  # fmt: skip
        """A new position (not yet booked), with its isolated liquidation price."""
        pos = Position(self.s.next_pid, acct, ref, book, side, q, price, m, lev, fee, tp, sl, t)
        if acct.mode == ISOLATED:
            pos.liq = liquidation_price(pos, acct)
        return pos

    def spread_liquidates(self, pos: Position) -> bool:
        return pos.liq is not None and self.reason(pos, pos.close_price()) == "liquidation"

    def book_open(self, pos: Position, trail: int | None, t: int, order: str | None = None
                  ) -> dict[str, Any]:  # fmt: skip
        """Take the fee, register and index the position; the `opened` event's fields."""
        s = self.s
        acct = pos.account
        acct.balance -= pos.fee
        acct.fees += pos.fee
        acct.positions[pos.ref] = pos
        acct.add_exposure(pos, 1)
        s.next_pid += 1
        s.open_count += 1
        if trail is not None:
            trailing.attach(pos.book, pos, trail, pos.close_price())
        if pos.liq is not None or pos.tp is not None or pos.sl is not None or trail:
            index.add_position(pos, s.accounts)
        fields = {
            "account": acct.name, "ref": pos.ref, "symbol": pos.book.inst.symbol,
            "side": SIDE_NAMES[pos.side], "price": pos.book.fmt(pos.open_price),
            "qty": fmt_qty(pos.qty), "margin": fmt_money(pos.margin),
            "leverage": fmt_decimal(pos.leverage), "fee": fmt_money(pos.fee),
        }  # fmt: skip
        if trail is not None:
            fields["trailing_stop"] = pos.book.fmt(trail)
        if order is not None:
            fields["order"] = order
        return fields

    # -------------------------------------------------------------- triggers
    @staticmethod
    def reason(pos: Position, p: int) -> str | None:
        """Liquidation, stop loss, trailing stop, take profit: the first that holds at p."""
        liq, sl, trail, tp = pos.liq, pos.sl, pos.trail, pos.tp
        if pos.side == LONG:
            if liq is not None and p <= liq:
                return "liquidation"
            if sl is not None and p <= sl:
                return "stop_loss"
            if trail is not None and p <= pos.tgroup.anchor - trail:
                return "trailing_stop"
            if tp is not None and p >= tp:
                return "take_profit"
        else:
            if liq is not None and p >= liq:
                return "liquidation"
            if sl is not None and p >= sl:
                return "stop_loss"
            if trail is not None and p >= pos.tgroup.anchor + trail:
                return "trailing_stop"
            if tp is not None and p <= tp:
                return "take_profit"
        return None

    def set_brackets(
        self, pos: Position, tp: int | None, sl: int | None, trail: int | None, new_trail: bool
    ) -> None:
        """Replace a position's TP, SL and trailing stop, and index the new prices."""
        old_tp, old_stop = pos.tp, index.stop_of(pos)
        pos.tp = tp
        pos.sl = sl
        parts = (("tp",) if tp != old_tp else ()) + (
            ("stop",) if index.stop_of(pos) != old_stop else ()
        )
        if new_trail:
            trailing.detach(pos)
            if trail is not None:
                trailing.attach(pos.book, pos, trail, pos.close_price())
        index.add_position(pos, self.s.accounts, parts)

    # ----------------------------------------------------------------- close
    def cascade(self, hits: list[Position], t: int, bid: int, ask: int, check: set[int]) -> None:
        """Close the positions a quote triggered, in the order given: each `closed` event
        is published before the next close, so a listener sees the state just after it.
        The cross accounts hit are added to `check`."""
        texts = (hits[0].book.fmt(bid), hits[0].book.fmt(ask)) if len(hits) > 1 else (None, None)
        s = self.s
        listeners = s._listeners
        settle = self.settle
        reason = self.reason
        for pos in hits:
            if not pos.open:
                continue
            long = pos.side > 0
            p = bid if long else ask
            why = reason(pos, p)
            if why is None:
                continue
            ev = settle(pos, t, why, p, texts[0] if long else texts[1])
            s.seq += 1  # s.publish(ev), inlined
            ev["seq"] = s.seq
            if listeners:
                for fn in tuple(listeners):
                    fn(ev)
            if pos.account.mode == CROSS:
                check.add(pos.account.index)

    def settle(
        self, pos: Position, t: int, reason: str, p: int, p_text: str | None = None
    ) -> dict[str, Any]:
        """Settle a close at price p (`p_text`: p as text, when a cascade has it already);
        returns the `closed` event, to be numbered and sent by `publish`."""
        acct = pos.account
        qty = pos.qty
        cost = qty * pos.open_price
        long = pos.side == LONG
        pnl = qty * p - cost if long else cost - qty * p
        cn, cd = pos.book.comm
        fee = ceil_charge(ceil_div(qty * p * cn, cd)) if cn else 0
        m = pos.margin
        isolated = acct.mode == ISOLATED
        if isolated:
            # The loss of an isolated position, fee included, is capped at its margin.
            if pnl < -m:
                pnl = -m
            if fee > pnl + m:
                fee = pnl + m
        balance = acct.balance = acct.balance + pnl - fee
        acct.realized += pnl
        if fee:
            acct.fees += fee
        pos.open = False
        del acct.positions[pos.ref]
        book = pos.book
        book.live.pop(pos.pid, None)  # its index entries die (index.drop_position)
        # acct.add_exposure(pos, -1), inlined (the hot path of a cascade):
        ex = acct.exposure[book.sid]
        if long:
            ex.long_qty -= qty
            ex.long_cost -= cost
        else:
            ex.short_qty -= qty
            ex.short_cost -= cost
        ex.count -= 1
        if not ex.count:
            del acct.exposure[book.sid]
        acct.used_margin -= m
        self.s.open_count -= 1
        ev: dict[str, Any] = {
            "seq": 0, "t": t, "type": "closed", "account": acct.name, "ref": pos.ref,
            "reason": reason, "price": p_text or pos.book.fmt(p), "pnl": fmt_money(pnl),
            "fee": fmt_money(fee) if fee else "0", "balance": fmt_money(balance),
        }  # fmt: skip
        if isolated and balance < 0:
            write_off(acct, ev)
        return ev

    def reduce(self, pos: Position, part: int, t: int, p: int) -> dict[str, Any]:
        """Close `part` of a position at p: its pnl and fee, its share of the margin freed.

        The released margin is margin * part // qty (rounded down): the remaining
        position keeps the rest, so no margin unit appears or vanishes.
        """
        acct = pos.account
        release = pos.margin * part // pos.qty
        pnl = part * (p - pos.open_price) * pos.side
        cn, cd = pos.book.comm
        fee = ceil_charge(ceil_div(part * p * cn, cd)) if cn else 0
        if acct.mode == ISOLATED:
            pnl = max(pnl, -release)
            fee = min(fee, pnl + release)
        acct.add_exposure(pos, -1)
        pos.qty -= part
        pos.margin -= release
        acct.add_exposure(pos, 1)
        acct.balance += pnl - fee
        acct.realized += pnl
        acct.fees += fee
        if acct.mode == ISOLATED:
            old_stop = index.stop_of(pos)
            pos.liq = liquidation_price(pos, acct)
            if index.stop_of(pos) != old_stop:
                index.add_position(pos, self.s.accounts, ("stop",))
        fields: dict[str, Any] = {
            "account": acct.name, "ref": pos.ref, "reason": "manual", "price": pos.book.fmt(p),
            "qty": fmt_qty(part), "pnl": fmt_money(pnl), "fee": fmt_money(fee),
            "balance": fmt_money(acct.balance), "remaining_qty": fmt_qty(pos.qty),
        }  # fmt: skip
        if acct.mode == ISOLATED and acct.balance < 0:
            write_off(acct, fields)
        return fields

    # ------------------------------------------------------------------ swap
    def charge_swaps(self, acct: Account, roll: int) -> None:
        """The 22:00 UTC rollover for one account: each open position pays its swap."""
        for pos in list(acct.positions.values()):
            num, den = pos.book.swap_long if pos.side == LONG else pos.book.swap_short
            if not num:
                continue
            p = pos.close_price()
            charge = ceil_charge(ceil_div(pos.qty * p * num, den))
            acct.balance -= charge
            acct.swaps += charge
            pos.swap += charge
            fields: dict[str, Any] = {
                "account": acct.name, "ref": pos.ref, "symbol": pos.book.inst.symbol,
                "price": pos.book.fmt(p), "amount": fmt_money(charge),
                "balance": fmt_money(acct.balance),
            }  # fmt: skip
            if acct.mode == ISOLATED and acct.balance < 0:
                write_off(acct, fields)
            self.s.emit(roll, "swap", fields)


def write_off(acct: Account, fields: dict[str, Any]) -> None:
    """Negative balance protection: the balance goes back to 0, the debt is written off."""
    amount = -acct.balance
    acct.written_off += amount
    acct.balance = 0
    fields["balance"] = "0"
    fields["written_off"] = fmt_money(amount)


def liquidation_price(pos: Position, acct: Account) -> int:
    """The isolated liquidation edge on the 1e-8 price grid.

    Liquidated when margin + upnl <= maintenance_rate * margin, that is when the
    closing price passes open -/+ (1 - rate) * margin / qty.
    """
    num, den = acct.maintenance_rate
    k = ceil_div(pos.margin * (den - num), den * pos.qty)
    return pos.open_price - k if pos.side == LONG else pos.open_price + k
