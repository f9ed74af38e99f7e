"""The engine's commands: open, close (whole or part), pending orders, modify, deposit,
reset; and engine time (swap rollovers, order expiry) that every input moves.

A command either changes the state and emits its events, or emits one `rejected` event
with a reason a person can read and changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ..domain import CROSS, MARGIN_MODES, Account
from ..money import BadNumber, fmt_decimal, fmt_money, fmt_qty, money_units, qty_units
from .cross import CrossMargin
from .errors import BadInput, Rejected
from .orders import Orders, check_trail
from .positions import (
    KEEP,
    Positions,
    check_market_brackets,
    check_size,
    parse_price,
    parse_size,
)
from .state import EngineState, Event

F = TypeVar("F", bound=Callable[..., Any])
DAY_US = 86_400_000_000
ROLLOVER_OFFSET_US = 22 * 3_600_000_000  # 22:00:00 UTC


def next_rollover_after(t: int) -> int:
    """The first 22:00:00 UTC strictly after engine time t."""
    return ((t - ROLLOVER_OFFSET_US) // DAY_US + 1) * DAY_US + ROLLOVER_OFFSET_US


def command(fn: F) -> F:
    """Run a command at its input time; defer it if issued from inside an event listener."""

    @functools.wraps(fn)
    def wrapper(self: Trading, *args: Any, t: int | None = None, **kwargs: Any) -> Any:
        if self._busy:
            self._pending.append((getattr(self, fn.__name__), args, {"t": t, **kwargs}))
            return None
        if t is None:
            t = max(self.now, 0)
        elif not isinstance(t, int) or isinstance(t, bool):
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


class Trading(EngineState):
    """The engine state with its commands, its components and the flow of time."""

    def __init__(self, demo_balance: int, max_quote_age_us: int, max_deposit: int) -> None:
        super().__init__(demo_balance, max_quote_age_us, max_deposit)
        self._swap_on = False
        self._positions = Positions(self)
        self._cross = CrossMargin(self, self._positions.settle)
        self._orders = Orders(self, self._positions)

    def _run_pending(self) -> None:
        while self._pending and not self._busy:
            fn, args, kwargs = self._pending.pop(0)
            fn(*args, **kwargs)

    def _check_cross(self, acct: Account, t: int) -> None:
        if acct.mode == CROSS:
            self._cross.check(acct, t)

    # ------------------------------------------------------------------- time
    def _advance(self, t: int) -> None:
        """Move engine time to t: swap at each 22:00 UTC rollover passed, then expire the
        orders due by t (at time t)."""
        if t < self.now:
            raise BadInput(f"input time {t} is before engine time {self.now}")
        if self.now < 0 or self.open_count == 0:
            self.next_roll = next_rollover_after(t) if t >= self.next_roll else self.next_roll
        while t >= self.next_roll:
            roll = self.next_roll
            self.next_roll = roll + DAY_US  # first: a listener's command may re-enter here
            self.now = roll
            if self._swap_on and self.open_count:
                self._charge_swaps(roll)
        self.now = t
        if t >= self.next_expiry:
            self._busy += 1
            try:
                self._orders.expire(t)
            finally:
                self._busy -= 1
            self._run_pending()
        self.set_wake()

    def _charge_swaps(self, roll: int) -> None:
        self._busy += 1
        try:
            for acct in self.accounts:
                if acct.positions:
                    self._positions.charge_swaps(acct, roll)
                    self._check_cross(acct, roll)
        finally:
            self._busy -= 1
        self._run_pending()

    # ------------------------------------------------------------- positions
    @command
    def open(
        self, account: str, symbol: str, side: str, leverage: object, *, margin: object = None,
        qty: object = None, take_profit: object = None, stop_loss: object = None,
        trailing_stop: object = None, ref: str | None = None, t: int,
    ) -> Event:  # fmt: skip
        """Open a position: exactly one of `margin` (USD) or `qty` (base units)."""
        if ref is None:
            ref = f"p{self.next_pid}"
        ref = str(ref)
        pos_ = self._positions
        try:
            acct = self._acct(account)
            if ref in acct.positions:
                raise Rejected("invalid_order", f"{ref!r} is already an open position of "
                               f"{account}")  # fmt: skip
            if ref in acct.orders:
                raise Rejected("invalid_order", f"{ref!r} is a pending order of {account}")
            book = self.book_of(symbol)
            s, lev, m, q = parse_size(book, side, leverage, margin, qty)
            tp = parse_price(take_profit, "take_profit")
            sl = parse_price(stop_loss, "stop_loss")
            trail = check_trail(trailing_stop)
            check_size(book, lev, m, q)
            self.require_fresh(book, t)
            price = book.ask if s > 0 else book.bid
            check_market_brackets(s, book, tp, sl)
            q, m, fee = pos_.size(book, lev, m, q, price, margin)
            pos_.afford(acct, m, fee)
            pos = pos_.build(acct, ref, book, s, q, price, m, lev, fee, tp, sl, t)
            if pos_.spread_liquidates(pos):
                raise Rejected(
                    "invalid_order",
                    f"at leverage {fmt_decimal(lev)} the spread alone would liquidate this "
                    f"position at once (liquidation at {book.fmt(pos.liq or 0)}, closing "
                    f"price {book.fmt(pos.close_price())}): lower the leverage",
                )
        except Rejected as r:
            return self.reject(t, account, r.reason, r.message, ref)
        ev = self.emit(t, "opened", pos_.book_open(pos, trail, t))
        self._check_cross(acct, t)
        return ev

    def _acct(self, account: str) -> Account:
        acct = self.by_name.get(account)
        if acct is None:
            raise Rejected("invalid_order", f"unknown account {account!r}")
        return acct

    @command
    def close(self, account: str, ref: str, *, qty: object = None, t: int) -> Event:
        """Close an open position at the current closing-side price (reason `manual`);
        with `qty`, close only that part of it (event `reduced`)."""
        acct = self.by_name.get(account)
        pos = acct.positions.get(str(ref)) if acct is not None else None
        if pos is None or acct is None:
            return self.reject(
                t, account, "unknown_position", f"{account} has no open position {ref!r}", ref
            )
        try:
            part = None
            if qty is not None:
                try:
                    part = qty_units(qty, "qty")
                except BadNumber as e:
                    raise Rejected("invalid_order", str(e)) from None
                if part <= 0:
                    raise Rejected("invalid_order", f"the qty to close must be positive, "
                                   f"not {qty}")  # fmt: skip
                if part > pos.qty:
                    raise Rejected("invalid_order", f"qty {qty} is more than the "
                                   f"{fmt_qty(pos.qty)} position {ref!r} holds")  # fmt: skip
            self.require_fresh(pos.book, t)
        except Rejected as r:
            return self.reject(t, account, r.reason, r.message, ref)
        p = pos.close_price()
        if part is None or part == pos.qty:
            ev = self.publish(self._positions.settle(pos, t, "manual", p))
        else:
            ev = self.emit(t, "reduced", self._positions.reduce(pos, part, t, p))
        self._check_cross(acct, t)
        return ev

    # --------------------------------------------------------- pending orders
    @command
    def order(
        self, account: str, symbol: str, side: str, kind: str, price: object, leverage: object,
        *, margin: object = None, qty: object = None, take_profit: object = None,
        stop_loss: object = None, trailing_stop: object = None, expires: int | None = None,
        ref: str | None = None, t: int,
    ) -> Event:  # fmt: skip
        """Place a pending `limit` or `stop` order (event `order_placed`)."""
        if ref is None:
            ref = f"o{self.next_oid}"
        ref = str(ref)
        try:
            acct = self._acct(account)
            fields = self._orders.place(acct, ref, symbol, side, kind, price, leverage, margin,
                                        qty, take_profit, stop_loss, trailing_stop, expires,
                                        t)  # fmt: skip
        except Rejected as r:
            return self.reject(t, account, r.reason, r.message, ref)
        return self.emit(t, "order_placed", fields)

    @command
    def cancel(self, account: str, ref: str, *, t: int) -> Event:
        """Cancel a pending order (event `order_cancelled`, reason `cancelled`)."""
        acct = self.by_name.get(account)
        o = acct.orders.get(str(ref)) if acct is not None else None
        if o is None:
            return self.reject(t, account, "unknown_order",
                               f"{account} has no pending order {ref!r}", ref)  # fmt: skip
        return self._orders.cancel(o, t, "cancelled")

    @command
    def modify(
        self, account: str, ref: str, *, take_profit: object = KEEP, stop_loss: object = KEEP,
        trailing_stop: object = KEEP, price: object = KEEP, expires: object = KEEP, t: int,
    ) -> Event:  # fmt: skip
        """Change an open position's TP, SL or trailing stop, or a pending order's price,
        expiry, TP, SL or trailing stop. Only what is given changes; None removes it."""
        acct = self.by_name.get(account)
        ref = str(ref)
        pos = acct.positions.get(ref) if acct is not None else None
        o = acct.orders.get(ref) if acct is not None and pos is None else None
        if acct is None or (pos is None and o is None):
            return self.reject(t, account, "unknown_order",
                               f"{account} has no open position or pending order {ref!r}",
                               ref)  # fmt: skip
        try:
            if o is not None:
                fields = self._orders.modify(o, price, expires, take_profit, stop_loss,
                                             trailing_stop, t)  # fmt: skip
                return self.emit(t, "modified", fields)
            assert pos is not None
            if price is not KEEP or expires is not KEEP:
                raise Rejected("invalid_order", f"{ref!r} is an open position: only its "
                               "take_profit, stop_loss and trailing_stop can change")  # fmt: skip
            tp = pos.tp if take_profit is KEEP else parse_price(take_profit, "take_profit")
            sl = pos.sl if stop_loss is KEEP else parse_price(stop_loss, "stop_loss")
            trail = pos.trail if trailing_stop is KEEP else check_trail(trailing_stop)
            self.require_fresh(pos.book, t)
            check_market_brackets(pos.side, pos.book, tp, sl)
        except Rejected as r:
            return self.reject(t, account, r.reason, r.message, ref)
        self._positions.set_brackets(pos, tp, sl, trail, trailing_stop is not KEEP)
        fmt = pos.book.fmt
        ev = self.emit(t, "modified", {
            "account": account, "ref": ref, "take_profit": None if tp is None else fmt(tp),
            "stop_loss": None if sl is None else fmt(sl),
            "trailing_stop": None if trail is None else fmt(trail),
        })  # fmt: skip
        return ev

    # -------------------------------------------------------- deposit, reset
    @command
    def deposit(self, account: str, amount: object, *, t: int) -> Event:
        """Add paper money to an account (positive, at most `max_deposit` at a time)."""
        acct = self.by_name.get(account)
        if acct is None:
            return self.reject(t, account, "unknown_account", f"unknown account {account!r}")
        try:
            m = money_units(amount, "amount")
            if m <= 0:
                raise BadNumber(f"a deposit must be positive, not {amount}")
            if m > self.max_deposit:
                raise BadNumber(f"a deposit is at most {fmt_money(self.max_deposit)} USD at a "
                                "time: this is a paper account, not a bank")  # fmt: skip
        except BadNumber as e:
            return self.reject(t, account, "invalid_amount", str(e))
        acct.balance += m
        acct.deposits += m
        ev = self.emit(t, "deposit", {"account": account, "amount": fmt_money(m),
                                      "balance": fmt_money(acct.balance)})  # fmt: skip
        self._check_cross(acct, t)
        return ev

    @command
    def reset(self, account: str, margin_mode: str | None = None, *, t: int) -> Event:
        """Cancel the pending orders, close every open position at the last prices and
        restore the demo balance. `margin_mode`, when given, is the mode from now on."""
        acct = self.by_name.get(account)
        if acct is None:
            return self.reject(t, account, "unknown_account", f"unknown account {account!r}")
        if margin_mode is not None and margin_mode not in MARGIN_MODES:
            msg = f"margin_mode must be 'isolated' or 'cross', not {margin_mode!r}"
            return self.reject(t, account, "invalid_margin_mode", msg)
        for o in sorted(acct.orders.values(), key=lambda o: o.oid):
            self._orders.cancel(o, t, "reset")
        for pos in list(acct.positions.values()):
            self.publish(self._positions.settle(pos, t, "reset", pos.close_price()))
        acct.resets += acct.demo_balance - acct.balance
        acct.balance = acct.demo_balance
        acct.armed = True
        self._cross.watch(acct)  # nothing is open: this clears the old mode's cross edges
        fields: dict[str, Any] = {"account": account, "balance": fmt_money(acct.balance)}
        if margin_mode is not None:
            acct.mode = margin_mode
            fields["margin_mode"] = margin_mode
        return self.emit(t, "reset", fields)
