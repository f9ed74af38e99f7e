"""Shared helpers for the tick-store tests: where the real captures are, small hand-made stores."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from workbench.store.schema import connect
from workbench.store.writer import write_quotes, write_trades
from workbench.ticks import Quote, Trade

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-spot-2024-08-08"
CAPTURES = sorted(DATA.glob("*.ws.gz"))
MIN = 60_000_000
T0 = 1_723_161_600_000_000  # 2024-08-09 00:00:00 UTC


def store(tmp_path: Path, name: str = "ticks.duckdb") -> duckdb.DuckDBPyConnection:
    return connect(tmp_path / name)


def q(symbol: str, t: int, bid: str, ask: str, uid: int | None = None) -> Quote:
    return Quote(symbol, t, t, Decimal(bid), Decimal(ask), Decimal("1"), Decimal("1"), uid)


def tr(symbol: str, tid: int, t: int, price: str, qty: str) -> Trade:
    return Trade(symbol, tid, t, t, t, Decimal(price), Decimal(qty), False)


def add(con: duckdb.DuckDBPyConnection, quotes: list[Quote], trades: list[Trade] = ()) -> None:  # type: ignore[assignment]
    write_quotes(con, quotes, "test")
    if trades:
        write_trades(con, trades, "test")
