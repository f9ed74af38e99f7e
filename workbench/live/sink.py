"""What a quote feed writes into: the sequencer of a live engine (or anything alike)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, overload

from ..domain import Instrument

#: One quote: (symbol, t in µs, bid, ask), prices as ints in 1e-8 units.
QuoteTuple = tuple[str, int, int, int]


class QuoteSink(Protocol):
    """The engine side of a feed. Every method is safe to call from any thread."""

    def put_quotes(self, quotes: Sequence[QuoteTuple]) -> None:
        """Queue quotes for the engine, in time order; never blocks."""
        ...

    def backlog(self) -> int:
        """How many queued quotes are not yet applied and durable (a fast feed waits on it)."""
        ...

    def declare_instruments(self, instruments: Sequence[Instrument]) -> None:
        """Declare (or update) instruments; blocks until the engine has them."""
        ...


class QuoteColumns(Sequence[QuoteTuple]):
    """Applied quotes as parallel columns, as the engine took them: symbol ids (into
    `names`), times, bids and asks. Cheaper to build and hand on than a tuple per quote
    (at a full-speed replay there are 300k a second); reads as (symbol, t, bid, ask)
    tuples for those who want them, and a consumer that folds many quotes (the
    dashboards' producer) reads the columns."""

    __slots__ = ("names", "sids", "ts", "bids", "asks")

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names: Sequence[str] = names
        self.sids: list[int] = []
        self.ts: list[int] = []
        self.bids: list[int] = []
        self.asks: list[int] = []

    def add(
        self, names: Sequence[str], sids: list[int], ts: list[int], bids: list[int],
        asks: list[int],
    ) -> None:  # fmt: skip
        """Append columns; symbol ids only grow, so the longest `names` serves them all."""
        if len(names) > len(self.names):
            self.names = names
        self.sids += sids
        self.ts += ts
        self.bids += bids
        self.asks += asks

    def extend(self, other: QuoteColumns) -> None:
        self.add(other.names, other.sids, other.ts, other.bids, other.asks)

    def __len__(self) -> int:
        return len(self.ts)

    @overload
    def __getitem__(self, i: int) -> QuoteTuple: ...
    @overload
    def __getitem__(self, i: slice) -> list[QuoteTuple]: ...
    def __getitem__(self, i: int | slice) -> QuoteTuple | list[QuoteTuple]:
        if isinstance(i, slice):
            return list(self)[i]
        return (self.names[self.sids[i]], self.ts[i], self.bids[i], self.asks[i])

    def __iter__(self) -> Iterator[QuoteTuple]:
        names = map(self.names.__getitem__, self.sids)
        return zip(names, self.ts, self.bids, self.asks, strict=True)

    def __repr__(self) -> str:
        return f"QuoteColumns({len(self)} quotes of {', '.join(self.names)})"
