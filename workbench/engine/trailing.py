"""Trailing stops, indexed by group so that a new high costs O(1), not O(positions).

A long's trailing level is the highest bid since its distance was set minus the
distance. Positions whose "highest bid since" (the anchor) is the same share a group:
a group's level is its anchor minus its smallest distance. When a bid rises above some
groups' anchors, those groups merge into one whose anchor is that bid (their anchors
are all that bid from now on), so a rising market moves one group, not every position.
Shorts mirror this with the lowest ask plus the distance.

Heaps per symbol (entries are checked lazily, like the rest of the trigger index):
- `trail_long_hit` (-level, gid, group): a bid at or below a level hits that group;
- `trail_long_raise` (anchor, gid, group): a bid above an anchor raises that group;
- `trail_short_hit` (level, gid, group) and `trail_short_raise` (-anchor, gid, group).
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Any

from ..domain import LONG, Position, SymbolBook

_gids = count(1)


class Group:
    """Trailing positions of one symbol and side that share an anchor."""

    __slots__ = ("gid", "side", "anchor", "heap", "level", "alive")

    def __init__(self, side: int, anchor: int) -> None:
        self.gid = next(_gids)
        self.side = side
        self.anchor = anchor
        self.heap: list[tuple[int, int, Position]] = []  # (distance, pid, position)
        self.level: int | None = None
        self.alive = True

    def owns(self, entry: tuple[int, int, Position]) -> bool:
        pos = entry[2]
        return pos.open and pos.tgroup is self and pos.trail == entry[0]


def attach(b: SymbolBook, pos: Position, distance: int, anchor: int) -> None:
    """Give a position a trailing stop at `distance` from `anchor` (the price now)."""
    key = (pos.side, anchor)
    g = b.trail_groups.get(key)
    if g is None:
        g = b.trail_groups[key] = Group(pos.side, anchor)
        _push_raise(b, g)
    pos.trail = distance
    pos.tgroup = g
    heappush(g.heap, (distance, pos.pid, pos))
    _settle(b, g)


def detach(pos: Position) -> None:
    """Remove a position's trailing stop (its group entry dies lazily)."""
    pos.trail = None
    pos.tgroup = None


def _push_raise(b: SymbolBook, g: Group) -> None:
    if g.side == LONG:
        heappush(b.trail_long_raise, (g.anchor, g.gid, g))
    else:
        heappush(b.trail_short_raise, (-g.anchor, g.gid, g))


def _settle(b: SymbolBook, g: Group) -> None:
    """Drop dead entries at the group's top; re-post its level, or retire an empty group."""
    h = g.heap
    while h and not g.owns(h[0]):
        heappop(h)
    if not h:
        g.alive = False
        if b.trail_groups.get((g.side, g.anchor)) is g:
            del b.trail_groups[(g.side, g.anchor)]
        return
    level = g.anchor - h[0][0] * g.side
    if level != g.level:
        g.level = level
        if g.side == LONG:
            heappush(b.trail_long_hit, (-level, g.gid, g))
        else:
            heappush(b.trail_short_hit, (level, g.gid, g))


def live_hit(e: tuple[int, int, Any]) -> bool:
    g = e[2]
    return g.alive and g.level == (-e[0] if g.side == LONG else e[0])


def live_raise(e: tuple[int, int, Any]) -> bool:
    g = e[2]
    return g.alive and g.anchor == (e[0] if g.side == LONG else -e[0])


def _merge(b: SymbolBook, groups: list[Group], anchor: int) -> None:
    """Groups whose anchors a price passed become one group anchored at that price."""
    side = groups[0].side
    same = b.trail_groups.get((side, anchor))
    if same is not None and same not in groups:
        groups.append(same)
    target = max(groups, key=lambda g: len(g.heap))
    for g in groups:
        if b.trail_groups.get((side, g.anchor)) is g:
            del b.trail_groups[(side, g.anchor)]
        if g is target:
            continue
        g.alive = False
        for e in g.heap:
            if g.owns(e):
                e[2].tgroup = target
                heappush(target.heap, e)
    target.anchor = anchor
    b.trail_groups[(side, anchor)] = target
    _push_raise(b, target)
    target.level = None
    _settle(b, target)


def collect(b: SymbolBook, bid: int, ask: int, hit: dict[int, Position]) -> None:
    """Move anchors with this quote, then add every position whose level it reaches."""
    h = b.trail_long_raise
    if h and h[0][0] < bid:
        up: list[Group] = []
        while h and h[0][0] < bid:
            e = heappop(h)
            if live_raise(e):
                up.append(e[2])
        if up:
            _merge(b, up, bid)
    h = b.trail_short_raise
    if h and -h[0][0] > ask:
        down: list[Group] = []
        while h and -h[0][0] > ask:
            e = heappop(h)
            if live_raise(e):
                down.append(e[2])
        if down:
            _merge(b, down, ask)
    h = b.trail_long_hit
    while h and -h[0][0] >= bid:
        e = heappop(h)
        if live_hit(e):
            _take(b, e[2], bid, hit)
    h = b.trail_short_hit
    while h and h[0][0] <= ask:
        e = heappop(h)
        if live_hit(e):
            _take(b, e[2], ask, hit)


def _take(b: SymbolBook, g: Group, p: int, hit: dict[int, Position]) -> None:
    """Pop the group's positions whose level p reaches (long: level >= p; short: <= p)."""
    h = g.heap
    while h:
        e = h[0]
        if not g.owns(e):
            heappop(h)
            continue
        level = g.anchor - e[0] * g.side
        if (level >= p) if g.side == LONG else (level <= p):
            heappop(h)
            hit[e[1]] = e[2]
        else:
            break
    g.level = None
    _settle(b, g)


def compact(b: SymbolBook) -> int:
    """Drop dead entries inside every group's heap; returns the entries kept."""
    kept = 0
    for g in b.trail_groups.values():
        g.heap = [e for e in g.heap if g.owns(e)]
        g.heap.sort()
        kept += len(g.heap)
    return kept
