"""Reading ticks while the recorder runs, from another process.

DuckDB lets one process hold a database file open for writing, so the recorder also
mirrors every committed row into closed Parquet files (hive-partitioned, each written to
a temporary name and renamed, so a reader never sees half a file):

    <root>/quotes/symbol=BTC_USDC/date=2025-07-19/part-<µs>-<pid>-<seq>.parquet
    <root>/trades/symbol=.../date=.../part-....parquet
    <root>/gaps/date=.../part-....parquet

`read_quotes`, `read_trades` and `read_gaps` read them with DuckDB's `read_parquet` in a
private in-memory connection and return, like `workbench.store.reader.quotes_frame`, a
polars DataFrame (or pandas, or Arrow) with exact Decimal prices.
Rows appear once the recorder rolls its files (every `--parquet-every` seconds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from workbench.store.reader import TimeLike, to_backend, to_us

DEFAULT_PARQUET_DIR = Path("data") / "parquet"

_PRICE = pa.decimal128(18, 8)
_QTY = pa.decimal128(38, 8)
SCHEMAS: dict[str, pa.Schema] = {
    "quotes": pa.schema(
        [
            ("symbol", pa.string()),
            ("t", pa.int64()),
            ("e", pa.int64()),
            ("recv", pa.int64()),
            ("bid", _PRICE),
            ("ask", _PRICE),
            ("bid_qty", _QTY),
            ("ask_qty", _QTY),
            ("update_id", pa.int64()),
            ("source", pa.string()),
        ]
    ),
    "trades": pa.schema(
        [
            ("symbol", pa.string()),
            ("trade_id", pa.int64()),
            ("t", pa.int64()),
            ("e", pa.int64()),
            ("recv", pa.int64()),
            ("price", _PRICE),
            ("qty", _QTY),
            ("buyer_maker", pa.bool_()),
            ("source", pa.string()),
        ]
    ),
    "gaps": pa.schema(
        [
            ("symbol", pa.string()),
            ("start_us", pa.int64()),
            ("end_us", pa.int64()),
            ("reason", pa.string()),
            ("source", pa.string()),
        ]
    ),
}
#: The column each table is partitioned and filtered on by time.
TIME_COLUMN = {"quotes": "t", "trades": "t", "gaps": "start_us"}
_SYMBOL_RE = re.compile(r"[A-Za-z0-9_.\-]+")


def utc_date(us: int) -> str:
    """The UTC date (YYYY-MM-DD) of a time in microseconds."""
    return datetime.fromtimestamp(us // 1_000_000, UTC).date().isoformat()


def partition_dir(root: str | Path, table: str, day: str, symbol: str | None = None) -> Path:
    """Folder of one partition: `<root>/<table>/symbol=<s>/date=<day>` (gaps: no symbol)."""
    base = Path(root) / table
    if table == "gaps":
        return base / f"date={day}"
    if symbol is None or not _SYMBOL_RE.fullmatch(symbol):
        raise ValueError(f"bad symbol for a partition path: {symbol!r}")
    return base / f"symbol={symbol}" / f"date={day}"


def _files(
    root: Path, table: str, symbols: Iterable[str] | None, start_us: int | None, end_us: int | None
) -> list[str]:
    base = root / table
    if not base.is_dir():
        return []
    if table == "gaps":
        date_dirs = list(base.glob("date=*"))
    elif symbols is None:
        date_dirs = list(base.glob("symbol=*/date=*"))
    else:
        date_dirs = [d for s in symbols for d in base.glob(f"symbol={s}/date=*")]
    # A gap may start the day before `start` and still overlap it: no lower bound for gaps.
    lo = utc_date(start_us) if start_us is not None and table != "gaps" else None
    hi = utc_date(end_us) if end_us is not None else None
    files: list[str] = []
    for d in date_dirs:
        day = d.name.removeprefix("date=")
        if (lo is not None and day < lo) or (hi is not None and day > hi):
            continue
        files.extend(str(p) for p in d.glob("part-*.parquet"))
    return sorted(files)


Backend = Literal["polars", "pandas", "arrow"]


def read_table(
    table: str,
    data_dir: str | Path = DEFAULT_PARQUET_DIR,
    symbols: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    backend: Backend = "polars",
) -> Any:
    """Rows of `table` with time in [start, end) for `symbols` (all when None), in time order,
    as a polars or pandas DataFrame or an Arrow table (`backend`)."""
    return to_backend(_read_arrow(table, Path(data_dir), symbols, start, end), backend)


def _read_arrow(
    table: str, data_dir: Path, symbols: Iterable[str] | None, start: TimeLike, end: TimeLike
) -> pa.Table:
    schema = SCHEMAS[table]
    symbols = None if symbols is None else list(symbols)
    start_us, end_us = to_us(start), to_us(end)
    files = _files(data_dir, table, symbols, start_us, end_us)
    if not files:
        return schema.empty_table()
    tcol = TIME_COLUMN[table]
    where, params = ["true"], [files]
    if start_us is not None:
        where.append("end_us > ?" if table == "gaps" else f"{tcol} >= ?")
        params.append(start_us)
    if end_us is not None:
        where.append(f"{tcol} < ?")
        params.append(end_us)
    if symbols is not None and table == "gaps":
        where.append("(symbol IS NULL OR list_contains(?, symbol))")
        params.append(symbols)
    cols = ", ".join(schema.names)
    order = "start_us, end_us" if table == "gaps" else "t, recv, symbol"
    sql = (
        f"SELECT {cols} FROM read_parquet(?, hive_partitioning = true) "
        f"WHERE {' AND '.join(where)} ORDER BY {order}"
    )
    con = duckdb.connect()
    try:
        rel = con.sql(sql, params=params)
        assert rel is not None
        result = rel.to_arrow_table()
    finally:
        con.close()
    return result.cast(schema)


def read_quotes(
    data_dir: str | Path = DEFAULT_PARQUET_DIR,
    symbols: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    backend: Backend = "polars",
) -> Any:
    """Recorded quotes (the `quotes` columns) with engine time t in [start, end)."""
    return read_table("quotes", data_dir, symbols, start, end, backend=backend)


def read_trades(
    data_dir: str | Path = DEFAULT_PARQUET_DIR,
    symbols: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    backend: Backend = "polars",
) -> Any:
    """Recorded trades (the `trades` columns) with engine time t in [start, end)."""
    return read_table("trades", data_dir, symbols, start, end, backend=backend)


def read_gaps(
    data_dir: str | Path = DEFAULT_PARQUET_DIR,
    symbols: Iterable[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    backend: Backend = "polars",
) -> Any:
    """Recorded outages overlapping [start, end); with `symbols`, whole-connection gaps too."""
    return read_table("gaps", data_dir, symbols, start, end, backend=backend)
