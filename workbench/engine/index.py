"""The trigger index: per-symbol heaps of trigger prices, and the four cached edges.

A quote whose bid and ask sit strictly inside (lo_bid, hi_bid) and (lo_ask, hi_ask)
triggers nothing, so the hot path costs four int comparisons whatever the number of
open positions. Entries are removed lazily: an entry is valid only while its position
is open with the same trigger price (or, for a cross account, the same version).

A position's entries are plain ints, `price << 40 | pid` (`-price` in the ladders of
falling triggers), and the book's `live` maps the pid back to the open position. They
are kept in ladders (see ladder.py), not heaps: a quote that triggers k positions takes
their keys in one slice, and a closed position's other key is a list pop when it comes
to the bottom, where a heap pops each at O(log n). Pids stay below 2**40.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from heapq import heapify, heappop, heappush
from typing import Any

from ..domain import LIMIT, LONG, Account, Order, Position, SymbolBook
from ..ladder import Ladder
from . import trailing

SHIFT = 40
MASK = (1 << SHIFT) - 1
NO_LOW = -1
NO_HIGH = 1 << 62
FORCE_LOW = 1 << 62  # makes every bid <= lo_bid: used while a hot account watches the symbol


ALL_PARTS = ("tp", "stop")


def stop_of(pos: Position) -> int | None:
    """The stop that a falling bid (long) or rising ask (short) reaches first: the nearer
    of the stop loss and the isolated liquidation price. One heap entry stands for both."""
    sl, liq = pos.sl, pos.liq
    if sl is None:
        return liq
    if liq is None:
        return sl
    return max(sl, liq) if pos.side == LONG else min(sl, liq)


def _entries(pos: Position, parts: tuple[str, ...] = ALL_PARTS) -> Iterator[tuple[Ladder, int]]:
    """The index entries of a position's trigger prices: (ladder, key)."""
    b = pos.book
    pid = pos.pid
    long = pos.side == LONG
    for part in parts:
        thr = pos.tp if part == "tp" else stop_of(pos)
        if thr is None:
            continue
        if part == "tp":
            yield (b.long_tp, thr << SHIFT | pid) if long else (b.short_tp, -thr << SHIFT | pid)
        else:
            yield (b.long_stop, -thr << SHIFT | pid) if long else (b.short_stop, thr << SHIFT | pid)


def add_position(
    pos: Position, accounts: list[Account], parts: tuple[str, ...] = ALL_PARTS
) -> None:
    """Index the trigger prices of a position (`parts`: tp, stop or both)."""
    for ladder, key in _entries(pos, parts):
        ladder.push(key)
        pos.book.live[pos.pid] = pos
    refresh(pos.book, accounts)


def drop_position(pos: Position) -> None:
    """A position closed: its entries die with it (they are dropped lazily)."""
    pos.book.live.pop(pos.pid, None)


def add_positions(positions: Iterable[Position], books: list[SymbolBook],
                  accounts: list[Account]) -> None:  # fmt: skip
    """Index many positions at once (a restore): each ladder sorted once."""
    keys: dict[Ladder, list[int]] = {}
    for pos in positions:
        for ladder, key in _entries(pos):
            keys.setdefault(ladder, []).append(key)
            pos.book.live[pos.pid] = pos
    for ladder, new in keys.items():
        ladder.extend(new)
    for b in books:
        total = sum(len(ld) for ld in _ladders(b))
        for heap, _ in _rules(b):
            heapify(heap)
            total += len(heap)
        b.compact_at = max(b.compact_at, 2 * total)  # all live: nothing to compact yet
        refresh(b, accounts)


def _order_heap(o: Order) -> tuple[list[Any], int]:
    """The heap of a pending order and its key there."""
    b = o.book
    if o.side == LONG:
        return (b.buy_limit, -o.price) if o.kind == LIMIT else (b.buy_stop, o.price)
    return (b.sell_limit, o.price) if o.kind == LIMIT else (b.sell_stop, -o.price)


def add_order(o: Order, accounts: list[Account]) -> None:
    """Index a pending order's trigger price (again after a modify)."""
    heap, key = _order_heap(o)
    heappush(heap, (key, o.oid, o))
    refresh(o.book, accounts)


def add_orders(orders: Iterable[Order]) -> None:
    """Index many orders at once (a restore; the caller refreshes the books)."""
    for o in orders:
        heap, key = _order_heap(o)
        heap.append((key, o.oid, o))


def _live_order(e: tuple[Any, ...]) -> bool:
    o = e[2]
    return o.live and _order_heap(o)[1] == e[0]


def collect_orders(b: SymbolBook, bid: int, ask: int) -> list[Order]:
    """Pop the pending orders this quote triggers, in the order they were placed."""
    out: list[Order] = []
    h = b.buy_limit
    while h and -h[0][0] >= ask:
        e = heappop(h)
        if _live_order(e):
            out.append(e[2])
    h = b.buy_stop
    while h and h[0][0] <= ask:
        e = heappop(h)
        if _live_order(e):
            out.append(e[2])
    h = b.sell_limit
    while h and h[0][0] <= bid:
        e = heappop(h)
        if _live_order(e):
            out.append(e[2])
    h = b.sell_stop
    while h and -h[0][0] >= bid:
        e = heappop(h)
        if _live_order(e):
            out.append(e[2])
    if len(out) > 1:
        out.sort(key=lambda o: o.oid)
    return out


Valid = Callable[[Any, list[Account]], bool]


Live = Callable[[int], bool]


def _position_rules(live: dict[int, Position]) -> tuple[Live, Live, Live, Live]:
    """The liveness tests of the long_tp, short_tp, long_stop and short_stop keys."""

    def long_tp(k: int) -> bool:
        pos = live.get(k & MASK)
        return pos is not None and pos.tp == k >> SHIFT

    def short_tp(k: int) -> bool:
        pos = live.get(k & MASK)
        return pos is not None and pos.tp == -(k >> SHIFT)

    def long_stop(k: int) -> bool:
        pos = live.get(k & MASK)
        return pos is not None and stop_of(pos) == -(k >> SHIFT)

    def short_stop(k: int) -> bool:
        pos = live.get(k & MASK)
        return pos is not None and stop_of(pos) == k >> SHIFT

    return long_tp, short_tp, long_stop, short_stop


def _ladders(b: SymbolBook) -> tuple[Ladder, Ladder, Ladder, Ladder]:
    return b.long_tp, b.short_tp, b.long_stop, b.short_stop


def _live_cross(e: tuple[Any, ...], a: list[Account]) -> bool:
    return a[e[1]].xver == e[2]


def _live_pending(e: tuple[Any, ...], a: list[Account]) -> bool:
    return _live_order(e)


def _live_trail_hit(e: tuple[Any, ...], a: list[Account]) -> bool:
    return trailing.live_hit(e)


def _live_trail_raise(e: tuple[Any, ...], a: list[Account]) -> bool:
    return trailing.live_raise(e)


_RULES: tuple[tuple[str, Valid], ...] = (
    ("cross_bid", _live_cross), ("cross_ask", _live_cross),
    ("buy_limit", _live_pending), ("buy_stop", _live_pending),
    ("sell_limit", _live_pending), ("sell_stop", _live_pending),
    ("trail_long_hit", _live_trail_hit), ("trail_long_raise", _live_trail_raise),
    ("trail_short_hit", _live_trail_hit), ("trail_short_raise", _live_trail_raise),
)  # fmt: skip


LadderRules = tuple[tuple[Ladder, Live], ...]
HeapRules = tuple[tuple[list[Any], Valid], ...]


def _all_rules(b: SymbolBook) -> tuple[LadderRules, HeapRules]:
    """Each ladder and each heap of a symbol with the test that one of its entries is
    still live (built once per book: a refresh runs at every open and every trigger)."""
    rules = b.rules
    if rules is None:
        ladder_rules = tuple(zip(_ladders(b), _position_rules(b.live), strict=True))
        heap_rules = tuple((getattr(b, name), fn) for name, fn in _RULES)
        rules = b.rules = (ladder_rules, heap_rules)
    return rules  # type: ignore[no-any-return]


def _rules(b: SymbolBook) -> HeapRules:
    return _all_rules(b)[1]


def _clean(b: SymbolBook, accounts: list[Account]) -> None:
    """Drop dead entries from the bottoms and tops so that the cached edges are exact."""
    ladder_rules, heap_rules = _all_rules(b)
    present = b.live
    for ladder, live in ladder_rules:
        ladder.drop_absent(present, MASK)  # a closed position's keys: the usual dead
        ladder.drop_dead(live)
    for h, valid in heap_rules:
        while h and not valid(h[0], accounts):
            heappop(h)


def drop_dead_edges(h: list[tuple[int, int, int]], accounts: list[Account]) -> None:
    """Keep only the live entries of a cross-edge heap. Every re-watch of an account
    leaves its old edges dead, so these heaps are compacted on their own once they hold
    twice as many entries as there are accounts (the caller refreshes the book)."""
    h[:] = [e for e in h if accounts[e[1]].xver == e[2]]
    heapify(h)


def _compact(b: SymbolBook, accounts: list[Account]) -> None:
    """Drop every dead entry once the heaps have doubled since the last compaction."""
    total = trailing.compact(b)
    ladder_rules, heap_rules = _all_rules(b)
    for ladder, live in ladder_rules:
        ladder.keep(live)
        total += len(ladder)
    for h, valid in heap_rules:
        h[:] = [e for e in h if valid(e, accounts)]
        heapify(h)
        total += len(h)
    b.compact_at = max(256, 2 * total)


def refresh(b: SymbolBook, accounts: list[Account] | None = None) -> None:
    """Recompute the cached edges of a symbol from its heap tops.

    With `accounts`, dead entries are dropped first (at the tops, and all of them when
    the heaps have grown past twice their size at the last compaction).
    """
    if accounts is not None:
        if sum(len(h) for h, _ in _rules(b)) + sum(map(len, _ladders(b))) > b.compact_at:
            _compact(b, accounts)
        _clean(b, accounts)
    lo_bid = max(
        -(b.long_stop.top(0) >> SHIFT) if b.long_stop else NO_LOW,
        -b.cross_bid[0][0] if b.cross_bid else NO_LOW,
        -b.sell_stop[0][0] if b.sell_stop else NO_LOW,
        -b.trail_long_hit[0][0] if b.trail_long_hit else NO_LOW,
    )
    b.lo_bid = FORCE_LOW if b.hot else lo_bid
    b.hi_bid = min(
        b.long_tp.top(0) >> SHIFT if b.long_tp else NO_HIGH,
        b.sell_limit[0][0] if b.sell_limit else NO_HIGH,
        b.trail_long_raise[0][0] + 1 if b.trail_long_raise else NO_HIGH,
    )
    b.lo_ask = max(
        -(b.short_tp.top(0) >> SHIFT) if b.short_tp else NO_LOW,
        -b.buy_limit[0][0] if b.buy_limit else NO_LOW,
        -b.trail_short_raise[0][0] - 1 if b.trail_short_raise else NO_LOW,
    )
    b.hi_ask = min(
        b.short_stop.top(0) >> SHIFT if b.short_stop else NO_HIGH,
        b.cross_ask[0][0] if b.cross_ask else NO_HIGH,
        b.buy_stop[0][0] if b.buy_stop else NO_HIGH,
        b.trail_short_hit[0][0] if b.trail_short_hit else NO_HIGH,
    )


def collect(
    b: SymbolBook, bid: int, ask: int, accounts: list[Account]
) -> tuple[list[Position], set[int]]:
    """Pop every entry this quote triggers: the positions hit and the cross accounts to check."""
    hit: dict[int, Position] = {}
    live = b.live
    # Keys up to price << SHIFT | MASK have a trigger price <= price. A key is not checked
    # against its position's current brackets here: the cascade closes a position only
    # if one of them holds at this quote (and a moved bracket's own key is in reach too).
    for keys in (
        b.long_tp.take(bid << SHIFT | MASK), b.long_stop.take(-bid << SHIFT | MASK),
        b.short_tp.take(-ask << SHIFT | MASK), b.short_stop.take(ask << SHIFT | MASK),
    ):  # fmt: skip
        for k in keys:
            pid = k & MASK
            pos = live.get(pid)
            if pos is not None:
                hit[pid] = pos
    if b.trail_groups:
        trailing.collect(b, bid, ask, hit)
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
                or (pos.trail is not None and p <= pos.tgroup.anchor - pos.trail)
            )
        else:
            hit = (
                (pos.liq is not None and p >= pos.liq)
                or (pos.sl is not None and p >= pos.sl)
                or (pos.tp is not None and p <= pos.tp)
                or (pos.trail is not None and p >= pos.tgroup.anchor + pos.trail)
            )
        if hit:
            out.append(pos)
    return out
