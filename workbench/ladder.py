"""A min-ordered set of int keys where taking every key up to a limit costs a slice.

The trigger index keeps a position's trigger prices as int keys (see index.py). A quote
that triggers k of n positions must take the k smallest keys: a heap pops them one by
one at O(log n) each (half a microsecond apiece at 100k), and so does every dead key a
closed position leaves behind. A ladder keeps most keys in one list sorted descending
(the smallest last), so the keys up to a limit are a tail found by bisection and cut off
in one slice, and a dead key at the bottom is a list pop. Keys added since the last merge
wait in a small heap beside it; the heap is merged into the run (two sorted runs, one
linear merge) once it holds an eighth as many keys as the run.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from heapq import heappop, heappush
from operator import neg

MIN_MERGE = 64


class Ladder:
    """Int keys, smallest first out. `run` is sorted descending; `new` is a heap."""

    __slots__ = ("run", "new")

    def __init__(self, keys: Iterable[int] = ()) -> None:
        self.run: list[int] = sorted(keys, reverse=True)
        self.new: list[int] = []

    def __len__(self) -> int:
        return len(self.run) + len(self.new)

    def __bool__(self) -> bool:
        return bool(self.run) or bool(self.new)

    def push(self, key: int) -> None:
        new = self.new
        heappush(new, key)
        if len(new) > MIN_MERGE and len(new) << 3 > len(self.run):
            self._merge()

    def _merge(self) -> None:
        run = self.run
        run += self.new
        run.sort(reverse=True)  # two descending runs: one merge pass
        self.new = []

    def top(self, default: int) -> int:
        """The smallest key, or `default` when empty."""
        run, new = self.run, self.new
        if run:
            return min(run[-1], new[0]) if new else run[-1]
        return new[0] if new else default

    def take(self, limit: int) -> list[int]:
        """Remove and return every key <= limit (in no particular order)."""
        run = self.run
        out: list[int] = []
        if run and run[-1] <= limit:
            i = bisect_left(run, -limit, key=neg)  # the first key <= limit
            out = run[i:]
            del run[i:]
        new = self.new
        while new and new[0] <= limit:
            out.append(heappop(new))
        return out

    def drop_dead(self, live: Callable[[int], bool]) -> None:
        """Remove the smallest keys for as long as `live(key)` says they are not."""
        run, new = self.run, self.new
        while True:
            if run and (not new or run[-1] < new[0]):
                if live(run[-1]):
                    return
                run.pop()
            elif new:
                if live(new[0]):
                    return
                heappop(new)
            else:
                return

    def drop_absent(self, present: dict[int, object], mask: int) -> None:
        """Remove the smallest keys for as long as `key & mask` is not in `present`
        (the common dead key, a closed position's: cheaper than a `drop_dead` test)."""
        run, new = self.run, self.new
        while run and run[-1] & mask not in present:
            run.pop()
        while new and new[0] & mask not in present:
            heappop(new)

    def keep(self, live: Callable[[int], bool]) -> None:
        """Drop every key `live` refuses, and merge what waits in the heap."""
        keys = [k for k in self.run if live(k)]
        keys += [k for k in self.new if live(k)]
        keys.sort(reverse=True)
        self.run = keys
        self.new = []

    def extend(self, keys: Iterable[int]) -> None:
        """Add many keys at once (a restore)."""
        run = self.run
        run.extend(keys)
        run.extend(self.new)
        run.sort(reverse=True)
        self.new = []
