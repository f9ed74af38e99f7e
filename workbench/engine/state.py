"""The engine's shared state: books, accounts, the clock, the event sequence and listeners.

Every component of the engine (positions, pending orders, cross margin) is given this
object; none of them imports the `Engine` facade, which is this state plus its commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..domain import Account, SymbolBook
from .errors import BadInput, Rejected

Event = dict[str, Any]
Listener = Callable[[Event], None]
NEVER = 1 << 62


class EngineState:
    """Instruments, accounts, clock and event log: what every engine component works on."""

    def __init__(self, demo_balance: int, max_quote_age_us: int, max_deposit: int) -> None:
        self.books: list[SymbolBook] = []
        self.symbols: dict[str, int] = {}
        self.accounts: list[Account] = []
        self.by_name: dict[str, Account] = {}
        self.seq = 0
        self.now = -1
        self.next_roll = -1
        self.next_expiry = NEVER
        self.wake = -1  # min(next_roll, next_expiry): the hot path's one comparison
        self.next_pid = 1
        self.next_oid = 1
        self.open_count = 0
        self.demo_balance = demo_balance
        self.max_quote_age_us = max_quote_age_us
        self.max_deposit = max_deposit
        self.quotes = 0
        self.bad_quotes = 0
        self.ignored_quotes = 0
        self._listeners: list[Listener] = []
        self._pending: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._busy = 0

    def set_wake(self) -> None:
        self.wake = min(self.next_roll, self.next_expiry)

    def emit(self, t: int, kind: str, fields: dict[str, Any]) -> Event:
        """Number an event, hand it to every listener and return it."""
        self.seq += 1
        ev: Event = {"seq": self.seq, "t": t, "type": kind}
        ev.update(fields)
        for fn in tuple(self._listeners):
            fn(ev)
        return ev

    def publish(self, ev: Event) -> Event:
        """`emit` for an event built whole, its "seq" key first (a placeholder until now)."""
        self.seq += 1
        ev["seq"] = self.seq
        if self._listeners:
            for fn in tuple(self._listeners):
                fn(ev)
        return ev

    def reject(self, t: int, account: str, reason: str, message: str, ref: object = None) -> Event:
        """Emit the one `rejected` event of a refused command (nothing else changes)."""
        fields: dict[str, Any] = {"account": account}
        if ref is not None:
            fields["ref"] = ref
        fields["reason"] = reason
        fields["message"] = message
        return self.emit(t, "rejected", fields)

    def account_of(self, name: str) -> Account:
        acct = self.by_name.get(name)
        if acct is None:
            raise BadInput(f"unknown account {name!r}")
        return acct

    def book_of(self, symbol: object) -> SymbolBook:
        """The book of a symbol, or Rejected('invalid_order') for an unknown one."""
        sid = self.symbols.get(symbol) if isinstance(symbol, str) else None
        if sid is None:
            raise Rejected("invalid_order", f"unknown symbol {symbol!r}")
        return self.books[sid]

    def require_fresh(self, book: SymbolBook, t: int) -> None:
        """Rejected('no_price') without a quote, or with one older than max_quote_age_us."""
        sym = book.inst.symbol
        if book.t < 0:
            raise Rejected("no_price", f"no quote for {sym} yet")
        age = t - book.t
        if age > self.max_quote_age_us:
            raise Rejected("no_price", f"the last {sym} quote is {age / 1e6:.3f} s old "
                           f"(more than {self.max_quote_age_us / 1e6:g} s)")  # fmt: skip
