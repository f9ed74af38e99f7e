"""Idempotent inserts into the tick store: a batch is staged, then only rows not yet stored go in.

A quote is "already stored" when a row with the same symbol, t, recv, bid, ask, quantities
and update id exists (whatever its source); a trade when one with the same symbol and
trade id exists. Re-importing a file therefore adds nothing. Rows go in in staging order
(column `n`), so that readers can break ties on equal times by insertion order.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..money import BadNumber, price_units, qty_units
from ..ticks import Quote, Trade
from .columns import decimal_array

QUOTE_COLUMNS = (
    "symbol", "t", "e", "recv", "bid", "ask", "bid_qty", "ask_qty", "update_id", "source",
)  # fmt: skip
TRADE_COLUMNS = ("symbol", "trade_id", "t", "e", "recv", "price", "qty", "buyer_maker", "source")

_QUOTE_KEY = " AND ".join(
    [f"q.{c} = s.{c}" for c in ("symbol", "t", "recv", "bid", "ask")]
    + [f"q.{c} IS NOT DISTINCT FROM s.{c}" for c in ("bid_qty", "ask_qty", "update_id")]
)
_TRADE_KEY = "q.symbol = s.symbol AND q.trade_id = s.trade_id"


def insert_quotes(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    """Insert the rows of table/view `stage` (QUOTE_COLUMNS + ordinal `n`) not yet in `quotes`."""
    return _insert_new(con, stage, "quotes", QUOTE_COLUMNS, _QUOTE_KEY)


def insert_trades(con: duckdb.DuckDBPyConnection, stage: str) -> int:
    """Insert the rows of `stage` (TRADE_COLUMNS + ordinal `n`) whose trade is not yet stored."""
    return _insert_new(con, stage, "trades", TRADE_COLUMNS, _TRADE_KEY)


def _insert_new(
    con: duckdb.DuckDBPyConnection, stage: str, table: str, columns: tuple[str, ...], key: str
) -> int:
    """Insert in `n` order; rows whose key is already in `table` (same time span) are skipped."""
    row = con.execute(f"SELECT min(t), max(t), count(*) FROM {stage}").fetchall()[0]
    if not row or not row[2]:
        return 0
    span = {"lo": row[0], "hi": row[1]}
    cols = ", ".join(f"s.{c}" for c in columns)
    before = _count(con, table)
    overlap = con.execute(
        f"SELECT count(*) FROM {table} q WHERE q.t BETWEEN $lo AND $hi"
        f" AND q.symbol IN (SELECT DISTINCT symbol FROM {stage})",
        span,
    ).fetchall()[0]
    if overlap and overlap[0]:
        con.execute(
            f"""INSERT INTO {table} SELECT {cols} FROM {stage} s WHERE NOT EXISTS
            (SELECT 1 FROM {table} q WHERE q.t BETWEEN $lo AND $hi AND {key}) ORDER BY s.n""",
            span,
        )
    else:
        con.execute(f"INSERT INTO {table} SELECT {cols} FROM {stage} s")  # keeps scan order
    return _count(con, table) - before


def insert_arrow(con: duckdb.DuckDBPyConnection, table: pa.Table, kind: str = "quotes") -> int:
    """Insert an Arrow table of quote (or trade) columns, skipping rows already stored."""
    if "n" not in table.column_names:
        table = table.append_column("n", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    name = f"_wb_arrow_{kind}"
    cur = con.cursor()
    cur.register(name, table)
    try:
        return insert_quotes(cur, name) if kind == "quotes" else insert_trades(cur, name)
    finally:
        cur.close()


def quotes_arrow(quotes: Iterable[Quote], source: str) -> pa.Table:
    """Arrow table (QUOTE_COLUMNS) of Quote records; prices must have at most 8 decimals."""
    rows = list(quotes)
    opt = _opt_units
    return pa.table(
        {
            "symbol": pa.array([q.symbol for q in rows], pa.string()),
            "t": pa.array([q.t for q in rows], pa.int64()),
            "e": pa.array([q.e for q in rows], pa.int64()),
            "recv": pa.array([q.recv for q in rows], pa.int64()),
            "bid": decimal_array([price_units(q.bid, "bid") for q in rows]),
            "ask": decimal_array([price_units(q.ask, "ask") for q in rows]),
            "bid_qty": _opt_decimal([opt(q.bid_qty, "bid_qty") for q in rows]),
            "ask_qty": _opt_decimal([opt(q.ask_qty, "ask_qty") for q in rows]),
            "update_id": pa.array([q.update_id for q in rows], pa.int64()),
            "source": pa.array([source] * len(rows), pa.string()),
        }
    )


def trades_arrow(trades: Iterable[Trade], source: str) -> pa.Table:
    """Arrow table (TRADE_COLUMNS) of Trade records."""
    rows = list(trades)
    return pa.table(
        {
            "symbol": pa.array([r.symbol for r in rows], pa.string()),
            "trade_id": pa.array([r.trade_id for r in rows], pa.int64()),
            "t": pa.array([r.t for r in rows], pa.int64()),
            "e": pa.array([r.e for r in rows], pa.int64()),
            "recv": pa.array([r.recv for r in rows], pa.int64()),
            "price": decimal_array([price_units(r.price, "price") for r in rows]),
            "qty": _opt_decimal([qty_units(r.qty, "qty") for r in rows]),
            "buyer_maker": pa.array([r.buyer_maker for r in rows], pa.bool_()),
            "source": pa.array([source] * len(rows), pa.string()),
        }
    )


def write_quotes(con: duckdb.DuckDBPyConnection, quotes: Iterable[Quote], source: str) -> int:
    """Store Quote records (idempotent); returns the number of new rows."""
    return insert_arrow(con, quotes_arrow(quotes, source), "quotes")


def write_trades(con: duckdb.DuckDBPyConnection, trades: Iterable[Trade], source: str) -> int:
    """Store Trade records (idempotent); returns the number of new rows."""
    return insert_arrow(con, trades_arrow(trades, source), "trades")


def _opt_units(value: Decimal | None, what: str) -> int | None:
    return None if value is None else qty_units(value, what)


def _opt_decimal(units: list[int | None]) -> pa.Array:
    """decimal128(38, 8) from optional units; quantities may exceed int64, so go through Decimal."""
    for u in units:
        if u is not None and not -(2**63) <= u < 2**63:
            raise BadNumber(f"quantity {u} * 1e-8 is too large")
    if all(u is not None for u in units):
        return decimal_array(units, precision=38)  # type: ignore[arg-type]
    arr = decimal_array([0 if u is None else u for u in units], precision=38)
    missing = pa.array([u is None for u in units], pa.bool_())
    return pc.if_else(missing, pa.scalar(None, arr.type), arr)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
    return int(row[0]) if row else 0
