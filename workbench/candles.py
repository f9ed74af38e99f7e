"""OHLC candles from stored quotes, with volume from stored trades, computed in DuckDB SQL.

A candle covers [start, start + interval), buckets aligned on the Unix epoch (so 1d
candles are UTC days). Prices are the mid ((bid + ask) / 2, exact with 9 decimals), the
bid or the ask; open/close are the first/last quote of the bucket (ties broken by
insertion order). Volume and trade count come from trades in the same bucket (0 when
none). Only buckets with quotes are returned. A candle is `partial` when the data ends
before the candle does: the symbol's last stored quote, or the requested `end`, comes
before the end of its bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .store.reader import TimeLike, to_us

INTERVALS: dict[str, int] = {
    "1s": 1_000_000,
    "1m": 60_000_000,
    "5m": 300_000_000,
    "15m": 900_000_000,
    "30m": 1_800_000_000,
    "1h": 3_600_000_000,
    "4h": 14_400_000_000,
    "1d": 86_400_000_000,
}
PRICES = ("mid", "bid", "ask")
_NO_END = 2**62
# (t, rowid) packed in one HUGEINT: first/last quote of a bucket, ties by insertion order.
_ORDER_KEY = "((t::HUGEINT << 64) + rowid)"


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLC bucket of a symbol; times in µs, prices and volume exact."""

    symbol: str
    interval: str
    start: int
    end: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    quotes: int
    partial: bool


def candles_sql(price: str = "mid", *, bounded: bool = False, by_source: bool = False) -> str:
    """The candle query; parameters $sym, $iv (µs), $hi (exclusive end), and $lo, $src if used."""
    if price not in PRICES:
        raise ValueError(f"price must be one of {', '.join(PRICES)}, not {price!r}")
    px = "bid + ask" if price == "mid" else price
    out = "* 0.5" if price == "mid" else ""
    cond = "symbol = $sym AND t < $hi" + (" AND t >= $lo" if bounded else "")
    src = " AND source = $src" if by_source else ""
    return f"""
WITH agg AS (
    SELECT t // $iv * $iv AS start_us,
           arg_min({px}, {_ORDER_KEY}) AS o, max({px}) AS h, min({px}) AS l,
           arg_max({px}, {_ORDER_KEY}) AS c, count(*) AS n
    FROM quotes WHERE {cond}{src}
    GROUP BY start_us
), vol AS (
    SELECT t // $iv * $iv AS start_us, sum(qty) AS volume, count(*) AS trades
    FROM trades
    WHERE {cond}{src}
      AND t >= (SELECT min(start_us) FROM agg) AND t < (SELECT max(start_us) FROM agg) + $iv
    GROUP BY start_us
), span AS (
    SELECT least(coalesce(max(t) + 1, 0), $hi) AS data_end FROM quotes WHERE {cond}{src}
)
SELECT agg.start_us AS start, agg.start_us + $iv AS "end",
       o {out} AS open, h {out} AS high, l {out} AS low, c {out} AS close,
       coalesce(vol.volume, 0::DECIMAL(38, 8)) AS volume,
       coalesce(vol.trades, 0) AS trades, agg.n AS quotes,
       agg.start_us + $iv > span.data_end AS partial
FROM agg LEFT JOIN vol ON vol.start_us = agg.start_us CROSS JOIN span
ORDER BY agg.start_us"""


def candles_table(
    con: duckdb.DuckDBPyConnection,
    symbol: str,
    interval: str = "1m",
    *,
    price: str = "mid",
    start: TimeLike = None,
    end: TimeLike = None,
    source: str | None = None,
) -> pa.Table:
    """Candles as an Arrow table: start, end, open, high, low, close, volume, trades, quotes,
    partial (exact DECIMAL prices). [start, end) bounds the quotes and trades used;
    `source` keeps only quotes and trades of that source."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    lo, hi = to_us(start), to_us(end)
    params: dict[str, Any] = {"sym": symbol, "iv": INTERVALS[interval], "hi": hi or _NO_END}
    if hi is None:
        params["hi"] = _NO_END
    if lo is not None:
        params["lo"] = lo
    if source is not None:
        params["src"] = source
    sql = candles_sql(price, bounded=lo is not None, by_source=source is not None)
    cur = con.cursor()
    try:
        return cur.sql(sql, params=params).to_arrow_table()
    finally:
        cur.close()


def candles(
    con: duckdb.DuckDBPyConnection,
    symbol: str,
    interval: str = "1m",
    *,
    price: str = "mid",
    start: TimeLike = None,
    end: TimeLike = None,
    source: str | None = None,
) -> list[Candle]:
    """Candles as Candle records (see `candles_table`)."""
    table = candles_table(con, symbol, interval, price=price, start=start, end=end, source=source)
    return [Candle(symbol=symbol, interval=interval, **row) for row in table.to_pylist()]


def candles_frame(
    con: duckdb.DuckDBPyConnection,
    symbol: str,
    interval: str = "1m",
    *,
    price: str = "mid",
    start: TimeLike = None,
    end: TimeLike = None,
    source: str | None = None,
    backend: Literal["polars", "pandas"] = "polars",
) -> Any:
    """Candles as a DataFrame with a UTC `time` column (bucket start); Decimal prices."""
    table = candles_table(con, symbol, interval, price=price, start=start, end=end, source=source)
    times = pc.cast(table.column("start"), pa.timestamp("us", tz="UTC"))
    table = table.add_column(0, "time", times)
    if backend == "pandas":
        return table.to_pandas()
    import polars as pl

    return pl.from_arrow(table)
