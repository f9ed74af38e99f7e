"""What a quote feed writes into: the sequencer of a live engine (or anything alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..domain import Instrument

#: One quote: (symbol, t in µs, bid, ask), prices as ints in 1e-8 units.
QuoteTuple = tuple[str, int, int, int]


class QuoteSink(Protocol):
    """The engine side of a feed. Every method is safe to call from any thread."""

    def put_quotes(self, quotes: Sequence[QuoteTuple]) -> None:
        """Queue quotes for the engine, in time order; never blocks."""
        ...

    def backlog(self) -> int:
        """How many queued quotes the engine has not applied yet (a fast feed waits on it)."""
        ...

    def declare_instruments(self, instruments: Sequence[Instrument]) -> None:
        """Declare (or update) instruments; blocks until the engine has them."""
        ...
