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
    INSTRUMENT_FIELDS,
    LONG,
    MARGIN_MODES,
    Account,
    Instrument,
    SymbolBook,
)
from ..money import BadNumber, money_units, price_units, ratio, to_decimal
from . import index
from .cross import CrossMixin
from .trading import TradingMixin
from .views import ViewsMixin

DAY_US = 86_400_000_000
ROLLOVER_OFFSET_US = 22 * 3_600_000_000  # 22:00:00 UTC

Event = dict[str, Any]
Listener = Callable[[Event], None]


class BadInput(ValueError):
    """An input the engine refuses; the engine state is unchanged."""


class BadQuote(BadInput):
    """A quote with bid <= 0, ask <= 0 or bid > ask: rejected, nothing changes."""


def next_rollover_after(t: int) -> int:
    """The first 22:00:00 UTC strictly after engine time t."""
    return ((t - ROLLOVER_OFFSET_US) // DAY_US + 1) * DAY_US + ROLLOVER_OFFSET_US


class Engine(TradingMixin, CrossMixin, ViewsMixin):
    """One paper-trading engine: instruments, accounts, positions and the event log."""

    def __init__(
        self,
        instruments: Iterable[Instrument] = (),
        *,
        demo_balance: object = DEFAULT_DEMO_BALANCE,
        max_quote_age_us: int = DEFAULT_MAX_QUOTE_AGE_US,
        max_deposit: object = Decimal(10_000_000),
    ) -> None:
        self.books: list[SymbolBook] = []
        self.symbols: dict[str, int] = {}
        self.accounts: list[Account] = []
        self.by_name: dict[str, Account] = {}
        self.seq = 0
        self.now = -1
        self.next_roll = -1
        self.next_pid = 1
        self.open_count = 0
        self.demo_balance = money_units(demo_balance, "demo_balance")
        self.max_quote_age_us = int(max_quote_age_us)
        self.max_deposit = money_units(max_deposit, "max_deposit")
        self.quotes = 0
        self.bad_quotes = 0
        self.ignored_quotes = 0
        self._listeners: list[Listener] = []
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._busy = 0
        self._swap_on = False
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

    def _emit(self, t: int, kind: str, fields: dict[str, Any]) -> Event:
        self.seq += 1
        ev: Event = {"seq": self.seq, "t": t, "type": kind}
        ev.update(fields)
        for fn in tuple(self._listeners):
            fn(ev)
        return ev

    def _run_pending(self) -> None:
        while self._pending and not self._busy:
            fn, args, kwargs = self._pending.pop(0)
            fn(*args, **kwargs)

    # ------------------------------------------------------------------- time
    def _advance(self, t: int) -> None:
        """Move engine time to t, charging swap at each 22:00 UTC rollover passed."""
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
        nroll = self.next_roll
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
                if t >= nroll:
                    self._advance(t)
                    nroll = self.next_roll
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
        self.now = now
        self.quotes += accepted
        self.bad_quotes += bad
        self.ignored_quotes += ignored
        return accepted

    def _on_trigger(self, b: SymbolBook, t: int, bid: int, ask: int) -> None:
        """A quote crossed an edge: fill what it triggers, then check cross accounts."""
        self._busy += 1
        try:
            positions, check = index.collect(b, bid, ask, self.accounts)
            for pos in positions:
                if not pos.open:
                    continue
                p = bid if pos.side == LONG else ask
                reason = self._trigger_reason(pos, p)
                if reason is None:
                    continue
                self._emit(t, "closed", self._close(pos, t, reason, p))
                if pos.account.mode == CROSS:
                    check.add(pos.account.index)
            for ai in sorted(check):
                self._check_cross(self.accounts[ai], t)
            index.refresh(b, self.accounts)
        finally:
            self._busy -= 1
        self._run_pending()

    # ---------------------------------------------------------------- journal
    def apply(self, record: dict[str, Any]) -> Event | bool | Account | None:
        """Apply one input record (the scenario / journal line format)."""
        kind = record.get("type")
        t = record.get("t")
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise BadInput(f"'t' must be a non-negative integer of microseconds, not {t!r}")
        fields = INPUT_FIELDS.get(kind) if isinstance(kind, str) else None
        if fields is None:
            raise BadInput(f"unknown input type {kind!r}")
        unknown = set(record) - fields - {"t", "type"}
        if unknown:
            raise BadInput(f"unknown {kind} field(s): {', '.join(sorted(unknown))}")
        g = record.get
        if kind == "quote":
            return self.quote(_req(record, "symbol"), t, _req(record, "bid"), _req(record, "ask"))
        if kind == "open":
            return self.open(
                _req(record, "account"), g("symbol"), g("side"), g("leverage"),
                margin=g("margin"), qty=g("qty"), take_profit=g("take_profit"),
                stop_loss=g("stop_loss"), ref=g("ref"), t=t,
            )  # fmt: skip
        if kind == "close":
            return self.close(_req(record, "account"), _req(record, "ref"), t=t)
        if kind == "deposit":
            return self.deposit(_req(record, "account"), _req(record, "amount"), t=t)
        if kind == "reset":
            return self.reset(_req(record, "account"), g("margin_mode"), t=t)
        if kind == "instrument":
            try:
                inst = Instrument.from_fields(record)
            except BadNumber as e:
                raise BadInput(str(e)) from None
            self.add_instrument(inst)
            return None
        opts = {k: record[k] for k in fields - {"account"} if k in record}
        return self.create_account(_req(record, "account"), **opts)


INPUT_FIELDS: dict[str, set[str]] = {
    "quote": {"symbol", "bid", "ask"},
    "open": {"account", "ref", "symbol", "side", "leverage", "margin", "qty",
             "take_profit", "stop_loss"},
    "close": {"account", "ref"},
    "deposit": {"account", "amount"},
    "reset": {"account", "margin_mode"},
    "instrument": set(INSTRUMENT_FIELDS),
    "account": {"account", "balance", "margin_mode", "maintenance_rate", "margin_call_level",
                "stop_out_level"},
}  # fmt: skip


def _req(record: dict[str, Any], key: str) -> Any:
    if key not in record:
        raise BadInput(f"{record.get('type')} input needs {key!r}")
    return record[key]
