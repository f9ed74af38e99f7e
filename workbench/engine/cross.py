"""Cross margin: margin call, stop-out and negative balance protection, watched cheaply.

An account whose margin level is above the margin-call level is watched through
price edges: its slack D = equity - level * used margin is shared among the
(symbol, side) exposures it holds, and each gets the price at which its share
would be used up. While no edge is crossed, D stays positive, so the account can
only be checked when an edge is crossed (or when its own balance changes). An
account at or below the margin-call level is "hot": checked on every quote of the
symbols it holds, so that it re-arms exactly when the level rises again.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from heapq import heappush
from typing import Any

from ..domain import CROSS, Account, Position, SymbolBook
from ..money import ceil_div
from . import index
from .positions import write_off
from .state import EngineState

Settle = Callable[[Position, int, str, int], dict[str, Any]]


def level_text(equity: int, used: int) -> str | None:
    """Margin level in percent, half-up to two decimals ("55.20"); None if nothing is used."""
    if used == 0:
        return None
    level = (Decimal(equity) * 100 / Decimal(used)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{level:.2f}"


def _at_or_below(equity: int, used: int, level: tuple[int, int]) -> bool:
    """equity / used * 100 <= level (exactly, in integers)."""
    num, den = level
    return equity * 100 * den <= num * used


class CrossMargin:
    """Cross-margin checks: given the engine state and how to settle a close."""

    def __init__(self, state: EngineState, settle: Settle) -> None:
        self.s = state
        self.settle = settle

    def check(self, acct: Account, t: int, touched: set[int] | None = None) -> None:
        """After a quote or a command: margin call, stop-out, write-off, then re-watch
        (`touched`: see `watch`)."""
        if acct.mode != CROSS:
            return
        books = self.s.books
        if not acct.positions:
            acct.armed = True
            self.watch(acct, None, touched)
            return
        eq = acct.equity(books)
        used = acct.used_margin
        if acct.armed and _at_or_below(eq, used, acct.margin_call_level):
            acct.armed = False
            self.s.emit(
                t, "margin_call", {"account": acct.name, "margin_level": level_text(eq, used)}
            )
        while acct.positions and _at_or_below(eq, used, acct.stop_out_level):
            worst = min(acct.positions.values(), key=lambda p: (p.upnl(), p.pid))
            fields = self.settle(worst, t, "stop_out", worst.close_price())
            eq = acct.equity(books)
            used = acct.used_margin
            more = acct.positions and _at_or_below(eq, used, acct.stop_out_level)
            if not more and acct.balance < 0:
                write_off(acct, fields)
                eq = acct.equity(books)
            self.s.publish(fields)
        if not acct.positions or not _at_or_below(eq, used, acct.margin_call_level):
            acct.armed = True
        self.watch(acct, eq, touched)

    def watch(self, acct: Account, eq: int | None = None, touched: set[int] | None = None) -> None:
        """(Re)place the account's price edges, or make it hot while in margin call.

        With `touched`, the books whose edges changed are added to it, for the caller to
        refresh once after checking many accounts (a cascade); else they are refreshed now.
        """
        if acct.mode != CROSS:
            return
        books = self.s.books
        accounts = self.s.accounts
        acct.xver += 1
        ai = acct.index
        changed = set(acct.hot) if touched is None else touched
        for sid in acct.hot:
            books[sid].hot.discard(ai)
            changed.add(sid)
        acct.hot.clear()
        if acct.positions and not acct.armed:
            for sid in acct.exposure:
                books[sid].hot.add(ai)
                acct.hot.add(sid)
                changed.add(sid)
        elif acct.positions:
            self._edges(acct, books, eq)
            changed.update(acct.exposure)
        if touched is None:
            for sid in changed:
                index.refresh(books[sid], accounts)

    def _edges(self, acct: Account, books: list[SymbolBook], eq: int | None) -> None:
        """Push the armed account's price edges (a new version: the old ones die)."""
        ai = acct.index
        if eq is None:
            eq = acct.equity(books)
        num, den = acct.margin_call_level
        slack = eq * 100 * den - num * acct.used_margin  # > 0 while armed
        sides = sum((ex.long_qty > 0) + (ex.short_qty > 0) for ex in acct.exposure.values())
        unit = sides * 100 * den
        ver = acct.xver
        accounts = self.s.accounts
        limit = 2 * len(accounts) + 64  # an account has one live edge per book and side
        for sid, ex in acct.exposure.items():
            b = books[sid]
            if ex.long_qty:
                thr = b.bid + (-slack) // (unit * ex.long_qty)
                heappush(b.cross_bid, (-thr, ai, ver))
                if len(b.cross_bid) > limit:
                    index.drop_dead_edges(b.cross_bid, accounts)
            if ex.short_qty:
                thr = b.ask + ceil_div(slack, unit * ex.short_qty)
                heappush(b.cross_ask, (thr, ai, ver))
                if len(b.cross_ask) > limit:
                    index.drop_dead_edges(b.cross_ask, accounts)
