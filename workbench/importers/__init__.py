"""Importers of recorded and tabular market data into the tick store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImportResult:
    """What an import read (`*_read`) and how many of those rows were new (`quotes`, `trades`)."""

    quotes: int = 0
    trades: int = 0
    quotes_read: int = 0
    trades_read: int = 0

    def add(self, other: ImportResult) -> None:
        self.quotes += other.quotes
        self.trades += other.trades
        self.quotes_read += other.quotes_read
        self.trades_read += other.trades_read

    def __str__(self) -> str:
        return (
            f"{self.quotes_read:,} quotes ({self.quotes:,} new), "
            f"{self.trades_read:,} trades ({self.trades:,} new)"
        )
