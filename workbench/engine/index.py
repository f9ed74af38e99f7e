"""The trigger index: per-symbol heaps of trigger prices, and the four cached edges.

A quote whose bid and ask sit strictly inside (lo_bid, hi_bid) and (lo_ask, hi_ask)
triggers nothing, so the hot path costs four int comparisons whatever the number of
open positions. Entries are removed lazily: an entry is valid only while its position
is open with the same trigger price (or, for a cross account, the same version).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from heapq import heapify, heappop, heappush
from typing import Any

from ..domain import LONG, Account, Position, SymbolBook

NO_LOW = -1
NO_HIGH = 1 << 62
FORCE_LOW = 1 << 62  # makes every bid <= lo_bid: used while a hot account watches the symbol


def _entries(pos: Position) -> Iterator[tuple[list[Any], tuple[int, int, Position]]]:
    """The heap entries of a position's trigger prices: (heap, entry)."""
    b = pos.book
    pid = pos.pid
    if pos.side == LONG:
        if pos.tp is not None:
            yield b.long_tp, (pos.tp, pid, pos)
        for thr in (pos.liq, pos.sl):
            if thr is not None:
                yield b.long_stop, (-thr, pid, pos)
    else:
        if pos.tp is not None:
            yield b.short_tp, (-pos.tp, pid, pos)
        for thr in (pos.liq, pos.sl):
            if thr is not None:
                yield b.short_stop, (thr, pid, pos)


def add_position(pos: Position, accounts: list[Account]) -> None:
    """Index the trigger prices of a newly opened position."""
    for heap, entry in _entries(pos):
        heappush(heap, entry)
    refresh(pos.book, accounts)


def add_positions(positions: Iterable[Position], books: list[SymbolBook],
                  accounts: list[Account]) -> None:  # fmt: skip
    """Index many positions at once (a restore): entries appended, each heap built once."""
    for pos in positions:
        for heap, entry in _entries(pos):
            heap.append(entry)
    for b in books:
        total = 0
        for heap in (b.long_tp, b.long_stop, b.short_tp, b.short_stop):
            heapify(heap)
            total += len(heap)
        b.compact_at = max(b.compact_at, 2 * total)  # all live: nothing to compact yet
        refresh(b, accounts)


def _valid_stop(pos: Position, thr: int) -> bool:
    return pos.open and (thr == pos.liq or thr == pos.sl)


Valid = Callable[[tuple[Any, ...], list[Account]], bool]


def _rules(b: SymbolBook) -> tuple[tuple[list[Any], Valid], ...]:
    """Each heap of a symbol with the test that one of its entries is still live."""
    return (
        (b.long_tp, lambda e, a: e[2].open and e[2].tp == e[0]),
        (b.short_tp, lambda e, a: e[2].open and e[2].tp == -e[0]),
        (b.long_stop, lambda e, a: _valid_stop(e[2], -e[0])),
        (b.short_stop, lambda e, a: _valid_stop(e[2], e[0])),
        (b.cross_bid, lambda e, a: a[e[1]].xver == e[2]),
        (b.cross_ask, lambda e, a: a[e[1]].xver == e[2]),
    )


def _clean(b: SymbolBook, accounts: list[Account]) -> None:
    """Drop dead entries from the heap tops so that the cached edges are exact."""
    for h, live in _rules(b):
        while h and not live(h[0], accounts):
            heappop(h)


def _compact(b: SymbolBook, accounts: list[Account]) -> None:
    """Drop every dead entry once the heaps have doubled since the last compaction."""
    total = 0
    for h, live in _rules(b):
        h[:] = [e for e in h if live(e, accounts)]
        heapify(h)
        total += len(h)
    b.compact_at = max(256, 2 * total)


def refresh(b: SymbolBook, accounts: list[Account] | None = None) -> None:
    """Recompute the cached edges of a symbol from its heap tops.

    With `accounts`, dead entries are dropped first (at the tops, and all of them when
    the heaps have grown past twice their size at the last compaction).
    """
    if accounts is not None:
        heaps = (b.long_tp, b.short_tp, b.long_stop, b.short_stop, b.cross_bid, b.cross_ask)
        if sum(len(h) for h in heaps) > b.compact_at:
            _compact(b, accounts)
        _clean(b, accounts)
    lo_bid = -b.long_stop[0][0] if b.long_stop else NO_LOW
    if b.cross_bid and -b.cross_bid[0][0] > lo_bid:
        lo_bid = -b.cross_bid[0][0]
    if b.hot:
        lo_bid = FORCE_LOW
    b.lo_bid = lo_bid
    b.hi_bid = b.long_tp[0][0] if b.long_tp else NO_HIGH
    b.lo_ask = -b.short_tp[0][0] if b.short_tp else NO_LOW
    hi_ask = b.short_stop[0][0] if b.short_stop else NO_HIGH
    if b.cross_ask and b.cross_ask[0][0] < hi_ask:
        hi_ask = b.cross_ask[0][0]
    b.hi_ask = hi_ask


def collect(
    b: SymbolBook, bid: int, ask: int, accounts: list[Account]
) -> tuple[list[Position], set[int]]:
    """Pop every entry this quote triggers: the positions hit and the cross accounts to check."""
    hit: dict[int, Position] = {}
    h = b.long_tp
    while h and h[0][0] <= bid:
        thr, pid, pos = heappop(h)
        if pos.open and pos.tp == thr:
            hit[pid] = pos
    h = b.long_stop
    while h and -h[0][0] >= bid:
        key, pid, pos = heappop(h)
        if _valid_stop(pos, -key):
            hit[pid] = pos
    h = b.short_tp
    while h and -h[0][0] >= ask:
        key, pid, pos = heappop(h)
        if pos.open and pos.tp == -key:
            hit[pid] = pos
    h = b.short_stop
    while h and h[0][0] <= ask:
        thr, pid, pos = heappop(h)
        if _valid_stop(pos, thr):
            hit[pid] = pos
    check: set[int] = set(b.hot)
    h2 = b.cross_bid
    while h2 and -h2[0][0] >= bid:
        _, ai, ver = heappop(h2)
        if accounts[ai].xver == ver:
            check.add(ai)
    h2 = b.cross_ask
    while h2 and h2[0][0] <= ask:
        _, ai, ver = heappop(h2)
        if accounts[ai].xver == ver:
            check.add(ai)
    return [hit[k] for k in sorted(hit)], check


def brute_force(b: SymbolBook, positions: list[Position]) -> list[Position]:
    """The positions of this symbol whose trigger conditions hold now (for tests)."""
    out = []
    for pos in positions:
        if not pos.open or pos.book is not b:
            continue
        p = pos.close_price()
        if pos.side == LONG:
            hit = (
                (pos.liq is not None and p <= pos.liq)
                or (pos.sl is not None and p <= pos.sl)
                or (pos.tp is not None and p >= pos.tp)
            )
        else:
            hit = (
                (pos.liq is not None and p >= pos.liq)
                or (pos.sl is not None and p >= pos.sl)
                or (pos.tp is not None and p <= pos.tp)
            )
        if hit:
            out.append(pos)
    return out
