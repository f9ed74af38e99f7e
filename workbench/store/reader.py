"""Reading quotes and trades back from the tick store, in time order across symbols.

Rows come ordered by time `t`, then by the position of their symbol in the request, then
by insertion order (`rowid`): a stable, repeatable order. The fast path yields chunks of
engine-ready Python int lists (symbol ids, µs, prices in 1e-8 units); the decimals travel
from DuckDB as Arrow decimal128 and are read as int64 words, never as floats.
Time ranges are half-open: start <= t < end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from .columns import units_of

CHUNK_ROWS = 65_536
TimeLike = int | datetime | str | None


@dataclass(frozen=True, slots=True)
class QuoteChunk:
    """Quotes in engine form: parallel lists, plus the times as an int64 array for pacing."""

    sids: list[int]
    ts: list[int]
    bids: list[int]
    asks: list[int]
    t_array: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class TradeChunk:
    """Trades as parallel lists: symbol ids, µs, price and qty in 1e-8 units, buyer_maker."""

    sids: list[int]
    ts: list[int]
    prices: list[int]
    qtys: list[int]
    buyer_maker: list[bool | None]

    def __len__(self) -> int:
        return len(self.ts)


def to_us(value: TimeLike) -> int | None:
    """µs since the epoch from an int (µs), an aware/naive-UTC datetime or ISO text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a time must be µs, a datetime or ISO text, not a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise TypeError(f"a time must be µs, a datetime or ISO text, not {value!r}")


def _where(
    symbols: Sequence[str], start: TimeLike, end: TimeLike, source: str | None
) -> tuple[str, dict[str, Any]]:
    if isinstance(symbols, str):
        raise TypeError("symbols must be a list of symbols, not one string")
    if not symbols:
        raise ValueError("give at least one symbol")
    params: dict[str, Any] = {"syms": list(symbols)}
    cond = ["list_contains($syms, symbol)"]
    lo, hi = to_us(start), to_us(end)
    if lo is not None:
        cond.append("t >= $lo")
        params["lo"] = lo
    if hi is not None:
        cond.append("t < $hi")
        params["hi"] = hi
    if source is not None:
        cond.append("source = $source")
        params["source"] = source
    return " AND ".join(cond), params


def count_quotes(
    con: duckdb.DuckDBPyConnection,
    symbols: Sequence[str],
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    source: str | None = None,
) -> int:
    """How many quotes `iter_quotes` would yield."""
    where, params = _where(symbols, start, end, source)
    cur = con.cursor()
    try:
        row = cur.execute(f"SELECT count(*) FROM quotes WHERE {where}", params).fetchall()[0]
    finally:
        cur.close()
    return int(row[0]) if row else 0


def iter_quotes(
    con: duckdb.DuckDBPyConnection,
    symbols: Sequence[str],
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    sids: Sequence[int] | None = None,
    source: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[QuoteChunk]:
    """Quotes of `symbols` in [start, end) in time order, as engine-ready chunks.

    `sids[i]` is the engine symbol id of `symbols[i]` (default: i). Safe to call from any
    thread: it reads through its own cursor.
    """
    where, params = _where(symbols, start, end, source)
    sid_map = np.asarray(sids if sids is not None else range(len(symbols)), dtype=np.int64)
    if len(sid_map) != len(symbols):
        raise ValueError("sids must give one engine id per symbol")
    sql = f"""SELECT CAST(list_position($syms, symbol) - 1 AS INTEGER) AS k, t, bid, ask
              FROM quotes WHERE {where} ORDER BY t, k, rowid"""
    cur = con.cursor()
    try:
        for batch in cur.sql(sql, params=params).to_arrow_reader(chunk_rows):
            if batch.num_rows == 0:
                continue
            k = batch.column(0).to_numpy()
            t = batch.column(1).to_numpy()
            yield QuoteChunk(
                sid_map[k].tolist(),
                t.tolist(),
                units_of(batch.column(2)).tolist(),
                units_of(batch.column(3)).tolist(),
                t,
            )
    finally:
        cur.close()


def iter_trades(
    con: duckdb.DuckDBPyConnection,
    symbols: Sequence[str],
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    sids: Sequence[int] | None = None,
    source: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[TradeChunk]:
    """Trades of `symbols` in [start, end) in time order (ties: symbol order, insertion)."""
    where, params = _where(symbols, start, end, source)
    sid_map = np.asarray(sids if sids is not None else range(len(symbols)), dtype=np.int64)
    sql = f"""SELECT CAST(list_position($syms, symbol) - 1 AS INTEGER) AS k, t, price,
                     CAST(qty * 100000000 AS BIGINT) AS qty_units, buyer_maker
              FROM trades WHERE {where} ORDER BY t, k, rowid"""
    cur = con.cursor()
    try:
        for batch in cur.sql(sql, params=params).to_arrow_reader(chunk_rows):
            if batch.num_rows == 0:
                continue
            yield TradeChunk(
                sid_map[batch.column(0).to_numpy()].tolist(),
                batch.column(1).to_numpy().tolist(),
                units_of(batch.column(2)).tolist(),
                batch.column(3).to_numpy().tolist(),
                batch.column(4).to_pylist(),
            )
    finally:
        cur.close()


def quotes_frame(
    con: duckdb.DuckDBPyConnection,
    symbols: Sequence[str],
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    source: str | None = None,
    backend: Literal["polars", "pandas", "arrow"] = "polars",
) -> Any:
    """Quotes as a DataFrame for notebooks, with a UTC `time` column and exact Decimal prices.

    polars keeps Decimal columns; pandas gets `decimal.Decimal` objects (convert to float
    yourself for plots).
    """
    where, params = _where(symbols, start, end, source)
    sql = f"""SELECT make_timestamptz(t) AS time, symbol, t, recv, bid, ask,
                     (bid + ask) * 0.5 AS mid, bid_qty, ask_qty, update_id, source
              FROM quotes WHERE {where}
              ORDER BY t, list_position($syms, symbol), rowid"""
    return _frame(con, sql, params, backend)


def trades_frame(
    con: duckdb.DuckDBPyConnection,
    symbols: Sequence[str],
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    source: str | None = None,
    backend: Literal["polars", "pandas", "arrow"] = "polars",
) -> Any:
    """Trades as a DataFrame (see `quotes_frame`)."""
    where, params = _where(symbols, start, end, source)
    sql = f"""SELECT make_timestamptz(t) AS time, symbol, trade_id, t, price, qty,
                     buyer_maker, source
              FROM trades WHERE {where}
              ORDER BY t, list_position($syms, symbol), rowid"""
    return _frame(con, sql, params, backend)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], backend: str) -> Any:
    cur = con.cursor()
    try:
        table: pa.Table = cur.sql(sql, params=params).to_arrow_table()
    finally:
        cur.close()
    return to_backend(table, backend)


def to_backend(table: pa.Table, backend: str) -> Any:
    """An Arrow table as a polars or pandas DataFrame, or as it is for "arrow"."""
    if backend == "arrow":
        return table
    if backend == "pandas":
        return table.to_pandas()
    if backend == "polars":
        import polars as pl

        return pl.from_arrow(table)
    raise ValueError(f"backend must be polars, pandas or arrow, not {backend!r}")
