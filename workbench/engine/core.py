"""The engine: a single-threaded deterministic state machine. Inputs in, events out.

Time is the time of the inputs (integer microseconds), never the wall clock. The
quote hot path compares a quote with four cached trigger edges of its symbol; only a
quote that crosses an edge pays for the positions it triggers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from ..domain import (
    CROSS,
    DEFAULT_DEMO_BALANCE,
    DEFAULT_INSTRUMENTS,
    DEFAULT_MARGIN_CALL_LEVEL,
    DEFAULT_MAX_QUOTE_AGE_US,
    DEFAULT_STOP_OUT_LEVEL,
    MARGIN_MODES,
    Account,
    Instrument,
    SymbolBook,
)
from ..money import BadNumber, money_units, price_units, ratio, to_decimal
from . import index, views
from .commands import Trading, next_rollover_after
from .errors import BadInput, BadQuote
from .inputs import apply_record
from .state import Event, Listener

__all__ = ["Engine", "BadInput", "BadQuote", "next_rollover_after"]


class Engine(Trading):
    """One paper-trading engine: instruments, accounts, positions, orders and the event log."""

    def __init__(
        self,
        instruments: Iterable[Instrument] = (),
        *,
        demo_balance: object = DEFAULT_DEMO_BALANCE,
        max_quote_age_us: int = DEFAULT_MAX_QUOTE_AGE_US,
        max_deposit: object = Decimal(10_000_000),
    ) -> None:
        super().__init__(
            money_units(demo_balance, "demo_balance"),
            int(max_quote_age_us),
            money_units(max_deposit, "max_deposit"),
        )
        for inst in (*DEFAULT_INSTRUMENTS, *instruments):
            self.add_instrument(inst)

    # ----------------------------------------------------------------- config
    def add_instrument(self, inst: Instrument) -> int:
        """Declare an instrument, or replace the parameters of a known one; returns its id."""
        sid = self.symbols.get(inst.symbol)
        if sid is None:
            sid = len(self.books)
            self.books.append(SymbolBook(sid, inst))
            self.symbols[inst.symbol] = sid
        else:
            self.books[sid].set_instrument(inst)
        self._swap_on = any(b.swap_long[0] or b.swap_short[0] for b in self.books)
        return sid

    def instrument(self, symbol: str) -> Instrument:
        return self.books[self.symbol_id(symbol)].inst

    def symbol_id(self, symbol: str) -> int:
        sid = self.symbols.get(symbol)
        if sid is None:
            raise BadInput(f"unknown symbol {symbol!r} (known: {', '.join(self.symbols)})")
        return sid

    def create_account(
        self,
        name: str,
        *,
        margin_mode: str = "isolated",
        balance: object = None,
        maintenance_rate: object = 0,
        margin_call_level: object = DEFAULT_MARGIN_CALL_LEVEL,
        stop_out_level: object = DEFAULT_STOP_OUT_LEVEL,
    ) -> Account:
        """Open a paper account with the demo balance (or `balance`) in a margin mode."""
        if not isinstance(name, str) or not name:
            raise BadInput("account name must be a non-empty string")
        if name in self.by_name:
            raise BadInput(f"account {name!r} exists already")
        if margin_mode not in MARGIN_MODES:
            raise BadInput(f"margin_mode must be 'isolated' or 'cross', not {margin_mode!r}")
        try:
            demo = self.demo_balance if balance is None else money_units(balance, "balance")
            mr = to_decimal(maintenance_rate, "maintenance_rate")
            mc = to_decimal(margin_call_level, "margin_call_level")
            so = to_decimal(stop_out_level, "stop_out_level")
        except BadNumber as e:
            raise BadInput(str(e)) from None
        if demo < 0:
            raise BadInput("balance must not be negative")
        if not 0 <= mr < 1:
            raise BadInput(f"maintenance_rate must be in [0, 1), not {mr}")
        if so < 0 or mc < so:
            raise BadInput(f"need 0 <= stop_out_level ({so}) <= margin_call_level ({mc})")
        acct = Account(
            index=len(self.accounts),
            name=name,
            mode=margin_mode,
            demo_balance=demo,
            balance=demo,
            maintenance_rate=ratio(mr, "maintenance_rate"),
            margin_call_level=ratio(mc, "margin_call_level"),
            stop_out_level=ratio(so, "stop_out_level"),
        )
        self.accounts.append(acct)
        self.by_name[name] = acct
        return acct

    # ----------------------------------------------------------------- events
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` for every event; returns a function that unsubscribes.

        A listener may issue commands: they run right after the current input, at its time.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ----------------------------------------------------------------- quotes
    def quote(self, symbol: str, t: int, bid: object, ask: object) -> bool:
        """Feed one quote (decimal text or Decimal prices). False if it was older than the last.

        Raises BadInput, changing nothing, for an unknown symbol or a bad price.
        """
        sid = self.symbol_id(symbol)
        try:
            b = price_units(bid, "bid")
            a = price_units(ask, "ask")
        except BadNumber as e:
            raise BadInput(str(e)) from None
        if not isinstance(t, int) or isinstance(t, bool):
            raise BadInput(f"quote time must be an integer of microseconds, not {t!r}")
        if b <= 0 or a <= 0 or b > a:
            self.bad_quotes += 1
            raise BadQuote(f"bad quote for {symbol}: bid {bid} / ask {ask} (need 0 < bid <= ask)")
        return self.feed_quotes((sid,), (t,), (b,), (a,)) == 1

    def feed_quotes(
        self, sids: Sequence[int], ts: Sequence[int], bids: Sequence[int], asks: Sequence[int]
    ) -> int:
        """The fast path: quotes as parallel sequences of ints (prices in 1e-8 units).

        Bad quotes (bid <= 0, ask <= 0, bid > ask) are counted in `bad_quotes` and skipped;
        a quote older than the last of its symbol is counted in `ignored_quotes`.
        Returns the number of quotes accepted.
        """
        if self._busy:
            raise RuntimeError("quotes cannot be fed from inside an event listener")
        books = self.books
        now = self.now
        wake = self.wake
        accepted = 0
        bad = 0
        ignored = 0
        for sid, t, bid, ask in zip(sids, ts, bids, asks, strict=True):
            b = books[sid]
            if bid <= 0 or ask <= 0 or bid > ask:
                bad += 1
                continue
            if t < b.t:
                ignored += 1
                continue
            if t > now:
                if t >= wake:
                    self._advance(t)
                    wake = self.wake
                now = t
            if b.markup_num:
                bid, ask = b.mark(bid, ask)
            b.bid = bid
            b.ask = ask
            b.t = t
            accepted += 1
            if bid <= b.lo_bid or bid >= b.hi_bid or ask <= b.lo_ask or ask >= b.hi_ask:
                self.now = now
                self._on_trigger(b, now, bid, ask)  # events at engine time, never behind it
                wake = self.wake  # a listener may have placed an order that expires
        self.now = now
        self.quotes += accepted
        self.bad_quotes += bad
        self.ignored_quotes += ignored
        return accepted

    def _on_trigger(self, b: SymbolBook, t: int, bid: int, ask: int) -> None:
        """A quote crossed an edge: fill the pending orders it reaches (in placement
        order), then close the positions it triggers (those just opened included), then
        check the cross accounts."""
        self._busy += 1
        try:
            check: set[int] = set()
            for o in index.collect_orders(b, bid, ask):
                if o.live:
                    self._orders.fill(o, t)
                    if o.account.mode == CROSS:
                        check.add(o.account.index)
            positions, hit_check = index.collect(b, bid, ask, self.accounts)
            check |= hit_check
            if positions:
                self._positions.cascade(positions, t, bid, ask, check)
            touched = {b.sid}  # the books whose edges the cross checks moved: refreshed once
            for ai in sorted(check):
                self._cross.check(self.accounts[ai], t, touched)
            for sid in touched:
                index.refresh(self.books[sid], self.accounts)
        finally:
            self._busy -= 1
        self._run_pending()

    # ---------------------------------------------------------------- journal
    def apply(self, record: dict[str, Any]) -> Event | bool | Account | None:
        """Apply one input record (the scenario / journal line format)."""
        return apply_record(self, record)

    # ------------------------------------------------------------------ views
    def figures(self, account: str) -> dict[str, Any]:
        """Account figures as exact Decimals (margin_level in %, None while nothing is open)."""
        return views.figures(self.account_of(account))

    def positions(self, account: str) -> list[dict[str, Any]]:
        """The open positions of an account, as decimal text (the account_state shape)."""
        return [views.position_view(p) for p in self.account_of(account).positions.values()]

    def position(self, account: str, ref: str) -> dict[str, Any] | None:
        pos = self.account_of(account).positions.get(ref)
        return None if pos is None else views.position_view(pos)

    def orders(self, account: str) -> list[dict[str, Any]]:
        """The pending orders of an account, in placement order, as decimal text."""
        return views.orders_view(self.account_of(account))

    def account_state(self, account: str) -> dict[str, Any]:
        """The `account_state` record of `workbench simulate` (without seq/t/type)."""
        return views.account_state(self.account_of(account))

    def last_quote(self, symbol: str) -> dict[str, Any] | None:
        return views.last_quote(self.books[self.symbol_id(symbol)])
