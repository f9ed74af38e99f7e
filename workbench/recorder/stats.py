"""Counters of a running recorder, readable from any thread (notebooks, the server)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class SymbolStats:
    """Rows accepted for one symbol and the local receive time of its last tick."""

    quotes: int = 0
    trades: int = 0
    last_recv_us: int | None = None

    @property
    def ticks(self) -> int:
        """Quotes plus trades."""
        return self.quotes + self.trades


@dataclass
class RecorderStats:
    """What the recorder has seen so far; `duplicates` are re-sent frames it skipped,
    `malformed` frames it could not parse, `errors` error frames from the server,
    `rejected` frames whose values do not fit the store's columns."""

    symbols: dict[str, SymbolStats] = field(default_factory=dict)
    duplicates: int = 0
    errors: int = 0
    malformed: int = 0
    rejected: int = 0
    other: int = 0
    gaps: int = 0
    connections: int = 0
    connect_failures: int = 0
    connected: bool = False
    last_error: str | None = None
    committed: dict[str, int] = field(default_factory=dict)

    @property
    def ticks(self) -> int:
        """Quotes plus trades accepted over all symbols."""
        return sum(s.ticks for s in self.symbols.values())

    @property
    def reconnects(self) -> int:
        """Connections after the first."""
        return max(0, self.connections - 1)

    def snapshot(self) -> RecorderStats:
        """A copy that no longer changes."""
        return replace(
            self,
            symbols={k: replace(v) for k, v in self.symbols.items()},
            committed=dict(self.committed),
        )
