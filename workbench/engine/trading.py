"""The trade lifecycle: commands (open, close, deposit, reset), closes and swap charges.

A command either changes the state and emits its event, or emits one `rejected`
event with a reason a person can read and changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..domain import (
    CROSS,
    ISOLATED,
    LONG,
    MARGIN_MODES,
    SIDE_NAMES,
    Account,
    Position,
    SymbolBook,
    side_of,
)
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
from . import index

if TYPE_CHECKING:
    from .core import Engine

F = TypeVar("F", bound=Callable[..., Any])
MONEY_DP = 16


class Rejected(Exception):
    """Internal: a command is refused with `reason` and a readable `message`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def command(fn: F) -> F:
    """Run a command at its input time; defer it if issued from inside an event listener."""

    @functools.wraps(fn)
    def wrapper(self: Engine, *args: Any, t: int | None = None, **kwargs: Any) -> Any:
        if self._busy:
            self._pending.append((getattr(self, fn.__name__), args, {"t": t, **kwargs}))
            return None
        if t is None:
            t = max(self.now, 0)
        elif not isinstance(t, int) or isinstance(t, bool):
            from .core import BadInput

            raise BadInput(f"command time must be an integer of microseconds, not {t!r}")
        self._advance(t)
        self._busy += 1
        try:
            ev = fn(self, *args, t=t, **kwargs)
        finally:
            self._busy -= 1
        self._run_pending()
        return ev

    return wrapper  # type: ignore[return-value]


class TradingMixin:
    """Commands and closes of the Engine (see core.Engine for the state they use)."""

    def _reject(
        self: Engine, t: int, account: str, reason: str, message: str, ref: object = None
    ) -> dict[str, Any]:
        """Emit the one `rejected` event of a refused command (nothing else changes)."""
        fields: dict[str, Any] = {"account": account}
        if ref is not None:
            fields["ref"] = ref
        fields["reason"] = reason
        fields["message"] = message
        return self._emit(t, "rejected", fields)

    # ------------------------------------------------------------------ open
    @command
    def open(
        self: Engine,
        account: str,
        symbol: str,
        side: str,
        leverage: object,
        *,
        margin: object = None,
        qty: object = None,
        take_profit: object = None,
        stop_loss: object = None,
        ref: str | None = None,
        t: int,
    ) -> dict[str, Any]:
        """Open a position: exactly one of `margin` (USD) or `qty` (base units)."""
        if ref is None:
            ref = f"p{self.next_pid}"
        try:
            acct, pos = self._prepare_open(account, symbol, side, leverage, margin, qty,
                                           take_profit, stop_loss, str(ref), t)  # fmt: skip
        except Rejected as r:
            return self._reject(t, account, r.reason, r.message, ref)
        acct.balance -= pos.fee
        acct.fees += pos.fee
        acct.positions[pos.ref] = pos
        acct.add_exposure(pos, 1)
        self.next_pid += 1
        self.open_count += 1
        if pos.liq is not None or pos.tp is not None or pos.sl is not None:
            index.add_position(pos, self.accounts)
        ev = self._emit(t, "opened", {
            "account": acct.name, "ref": pos.ref, "symbol": pos.book.inst.symbol,
            "side": SIDE_NAMES[pos.side], "price": pos.book.fmt(pos.open_price),
            "qty": fmt_qty(pos.qty), "margin": fmt_money(pos.margin),
            "leverage": fmt_decimal(pos.leverage), "fee": fmt_money(pos.fee),
        })  # fmt: skip
        if acct.mode == CROSS:
            self._check_cross(acct, t)
        return ev

    def _prepare_open(
        self: Engine, account: str, symbol: object, side: object, leverage: object,
        margin: object, qty: object, take_profit: object, stop_loss: object, ref: str, t: int,
    ) -> tuple[Account, Position]:  # fmt: skip
        acct = self.by_name.get(account)
        if acct is None:
            raise Rejected("invalid_order", f"unknown account {account!r}")
        if ref in acct.positions:
            raise Rejected("invalid_order", f"{ref!r} is already an open position of {account}")
        sid = self.symbols.get(symbol) if isinstance(symbol, str) else None
        if sid is None:
            raise Rejected("invalid_order", f"unknown symbol {symbol!r}")
        book = self.books[sid]
        try:
            s = side_of(side)
            if leverage is None:
                raise BadNumber("leverage is required")
            lev = to_decimal(leverage, "leverage")
            if (margin is None) == (qty is None):
                raise BadNumber("give exactly one of margin or qty")
            m = money_units(margin, "margin") if margin is not None else None
            q = qty_units(qty, "qty") if qty is not None else None
            tp = price_units(take_profit, "take_profit") if take_profit is not None else None
            sl = price_units(stop_loss, "stop_loss") if stop_loss is not None else None
        except BadNumber as e:
            raise Rejected("invalid_order", str(e)) from None
        if not 1 <= lev <= book.inst.max_leverage:
            raise Rejected("invalid_order", f"leverage {fmt_decimal(lev)} is outside 1.."
                           f"{fmt_decimal(book.inst.max_leverage)} for {symbol}")  # fmt: skip
        if (m is not None and m <= 0) or (q is not None and q <= 0):
            raise Rejected("invalid_order", "the order size must be positive")
        self._require_fresh(book, t)
        open_price = book.ask if s == LONG else book.bid
        _check_brackets(s, book, tp, sl)
        num, den = lev.as_integer_ratio()
        if m is not None:
            q = m * num // (den * open_price)
            if q <= 0:
                raise Rejected("invalid_order", f"margin {margin} at leverage {fmt_decimal(lev)} "
                               f"buys less than 0.00000001 {symbol}")  # fmt: skip
        else:
            assert q is not None
            m = ceil_charge(ceil_div(q * open_price * den, num))
        cn, cd = book.comm
        fee = ceil_charge(ceil_div(q * open_price * cn, cd)) if cn else 0
        free = acct.equity(self.books) - acct.used_margin
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
        pos = Position(self.next_pid, acct, ref, book, s, q, open_price, m, lev, fee, tp, sl, t)
        if acct.mode == ISOLATED:
            pos.liq = _liquidation_price(pos, acct)
            if self._trigger_reason(pos, pos.close_price()) == "liquidation":
                raise Rejected(
                    "invalid_order",
                    f"at leverage {fmt_decimal(lev)} the spread alone would liquidate this "
                    f"position at once (liquidation at {book.fmt(pos.liq)}, closing price "
                    f"{book.fmt(pos.close_price())}): lower the leverage",
                )
        return acct, pos

    def _require_fresh(self: Engine, book: SymbolBook, t: int) -> None:
        sym = book.inst.symbol
        if book.t < 0:
            raise Rejected("no_price", f"no quote for {sym} yet")
        age = t - book.t
        if age > self.max_quote_age_us:
            raise Rejected("no_price", f"the last {sym} quote is {age / 1e6:.3f} s old "
                           f"(more than {self.max_quote_age_us / 1e6:g} s)")  # fmt: skip

    # ----------------------------------------------------------------- close
    @command
    def close(self: Engine, account: str, ref: str, *, t: int) -> dict[str, Any]:
        """Close an open position at the current closing-side price (reason `manual`)."""
        acct = self.by_name.get(account)
        pos = acct.positions.get(str(ref)) if acct is not None else None
        if pos is None or acct is None:
            return self._reject(
                t, account, "unknown_position", f"{account} has no open position {ref!r}", ref
            )
        try:
            self._require_fresh(pos.book, t)
        except Rejected as r:
            return self._reject(t, account, r.reason, r.message, ref)
        ev = self._emit(t, "closed", self._close(pos, t, "manual", pos.close_price()))
        if acct.mode == CROSS:
            self._check_cross(acct, t)
        return ev

    def _trigger_reason(self: Engine, pos: Position, p: int) -> str | None:
        """Liquidation, then stop loss, then take profit: the first whose condition holds."""
        if pos.side == LONG:
            if pos.liq is not None and p <= pos.liq:
                return "liquidation"
            if pos.sl is not None and p <= pos.sl:
                return "stop_loss"
            if pos.tp is not None and p >= pos.tp:
                return "take_profit"
        else:
            if pos.liq is not None and p >= pos.liq:
                return "liquidation"
            if pos.sl is not None and p >= pos.sl:
                return "stop_loss"
            if pos.tp is not None and p <= pos.tp:
                return "take_profit"
        return None

    def _close(self: Engine, pos: Position, t: int, reason: str, p: int) -> dict[str, Any]:
        """Settle a close at price p; returns the `closed` event fields (not yet emitted)."""
        acct = pos.account
        pnl = pos.upnl_at(p)
        cn, cd = pos.book.comm
        fee = ceil_charge(ceil_div(pos.qty * p * cn, cd)) if cn else 0
        if acct.mode == ISOLATED:
            # The loss of an isolated position, fee included, is capped at its margin.
            pnl = max(pnl, -pos.margin)
            fee = min(fee, pnl + pos.margin)
        acct.balance += pnl - fee
        acct.realized += pnl
        acct.fees += fee
        pos.open = False
        del acct.positions[pos.ref]
        acct.add_exposure(pos, -1)
        self.open_count -= 1
        fields: dict[str, Any] = {
            "account": acct.name, "ref": pos.ref, "reason": reason, "price": pos.book.fmt(p),
            "pnl": fmt_money(pnl), "fee": fmt_money(fee), "balance": fmt_money(acct.balance),
        }  # fmt: skip
        if acct.mode == ISOLATED and acct.balance < 0:
            self._write_off(acct, fields)
        return fields

    def _write_off(self: Engine, acct: Account, fields: dict[str, Any]) -> None:
        """Negative balance protection: the balance goes back to 0, the debt is written off."""
        amount = -acct.balance
        acct.written_off += amount
        acct.balance = 0
        fields["balance"] = "0"
        fields["written_off"] = fmt_money(amount)

    # -------------------------------------------------------- deposit, reset
    @command
    def deposit(self: Engine, account: str, amount: object, *, t: int) -> dict[str, Any]:
        """Add paper money to an account (positive, at most `max_deposit` at a time)."""
        acct = self.by_name.get(account)
        if acct is None:
            return self._reject(t, account, "unknown_account", f"unknown account {account!r}")
        try:
            m = money_units(amount, "amount")
            if m <= 0:
                raise BadNumber(f"a deposit must be positive, not {amount}")
            if m > self.max_deposit:
                raise BadNumber(f"a deposit is at most {fmt_money(self.max_deposit)} USD at a "
                                "time: this is a paper account, not a bank")  # fmt: skip
        except BadNumber as e:
            return self._reject(t, account, "invalid_amount", str(e))
        acct.balance += m
        acct.deposits += m
        ev = self._emit(t, "deposit", {"account": account, "amount": fmt_money(m),
                                       "balance": fmt_money(acct.balance)})  # fmt: skip
        if acct.mode == CROSS:
            self._check_cross(acct, t)
        return ev

    @command
    def reset(
        self: Engine, account: str, margin_mode: str | None = None, *, t: int
    ) -> dict[str, Any]:
        """Close every open position at the last prices and restore the demo balance.

        `margin_mode` ('isolated' or 'cross'), when given, is the account's mode from now on.
        """
        acct = self.by_name.get(account)
        if acct is None:
            return self._reject(t, account, "unknown_account", f"unknown account {account!r}")
        if margin_mode is not None and margin_mode not in MARGIN_MODES:
            msg = f"margin_mode must be 'isolated' or 'cross', not {margin_mode!r}"
            return self._reject(t, account, "invalid_margin_mode", msg)
        for pos in list(acct.positions.values()):
            self._emit(t, "closed", self._close(pos, t, "reset", pos.close_price()))
        acct.resets += acct.demo_balance - acct.balance
        acct.balance = acct.demo_balance
        acct.armed = True
        self._watch(acct)  # nothing is open: this clears the old mode's cross edges
        fields: dict[str, Any] = {"account": account, "balance": fmt_money(acct.balance)}
        if margin_mode is not None:
            acct.mode = margin_mode
            fields["margin_mode"] = margin_mode
        return self._emit(t, "reset", fields)

    # ------------------------------------------------------------------ swap
    def _charge_swaps(self: Engine, roll: int) -> None:
        """The 22:00 UTC rollover: each open position pays its swap at the last price."""
        self._busy += 1
        try:
            for acct in self.accounts:
                if not acct.positions:
                    continue
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
                        self._write_off(acct, fields)
                    self._emit(roll, "swap", fields)
                if acct.mode == CROSS:
                    self._check_cross(acct, roll)
        finally:
            self._busy -= 1
        self._run_pending()


def _liquidation_price(pos: Position, acct: Account) -> int:
    """The isolated liquidation edge on the 1e-8 price grid.

    Liquidated when margin + upnl <= maintenance_rate * margin, that is when the
    closing price passes open -/+ (1 - rate) * margin / qty.
    """
    num, den = acct.maintenance_rate
    k = ceil_div(pos.margin * (den - num), den * pos.qty)
    return pos.open_price - k if pos.side == LONG else pos.open_price + k


def _check_brackets(side: int, book: SymbolBook, tp: int | None, sl: int | None) -> None:
    """A long needs stop_loss < bid < take_profit; a short take_profit < ask < stop_loss."""
    bid, ask, fmt_price = book.bid, book.ask, book.fmt
    if side == LONG:
        if sl is not None and not sl < bid:
            raise Rejected("invalid_order", f"a long's stop_loss {fmt_price(sl)} must be below "
                           f"the bid {fmt_price(bid)}")  # fmt: skip
        if tp is not None and not tp > bid:
            raise Rejected("invalid_order", f"a long's take_profit {fmt_price(tp)} must be above "
                           f"the bid {fmt_price(bid)}")  # fmt: skip
    else:
        if tp is not None and not tp < ask:
            raise Rejected("invalid_order", f"a short's take_profit {fmt_price(tp)} must be below "
                           f"the ask {fmt_price(ask)}")  # fmt: skip
        if sl is not None and not sl > ask:
            raise Rejected("invalid_order", f"a short's stop_loss {fmt_price(sl)} must be above "
                           f"the ask {fmt_price(ask)}")  # fmt: skip
