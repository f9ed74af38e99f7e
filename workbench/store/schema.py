"""The DuckDB schema of the tick store, shared by the recorder, importers and readers.

Times are integer microseconds since the Unix epoch. Prices and quantities are exact
DECIMALs. `source` says where a row came from ('backpack', 'binance-hftbacktest',
'csv', 'parquet', 'backfill', 'synthetic'); synthetic rows are SIMULATED data.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

PRICE_TYPE = "DECIMAL(18,8)"
QTY_TYPE = "DECIMAL(38,8)"

DDL = f"""
CREATE TABLE IF NOT EXISTS quotes (
    symbol     VARCHAR NOT NULL,
    t          BIGINT NOT NULL,   -- exchange engine time T (or receive time when none)
    e          BIGINT,            -- exchange send time E, NULL when the source has none
    recv       BIGINT NOT NULL,   -- local receive time
    bid        {PRICE_TYPE} NOT NULL,
    ask        {PRICE_TYPE} NOT NULL,
    bid_qty    {QTY_TYPE},
    ask_qty    {QTY_TYPE},
    update_id  BIGINT,
    source     VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS trades (
    symbol      VARCHAR NOT NULL,
    trade_id    BIGINT NOT NULL,
    t           BIGINT NOT NULL,
    e           BIGINT,
    recv        BIGINT NOT NULL,
    price       {PRICE_TYPE} NOT NULL,
    qty         {QTY_TYPE} NOT NULL,
    buyer_maker BOOLEAN,
    source      VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS gaps (
    symbol    VARCHAR,            -- NULL: the whole connection was down
    start_us  BIGINT NOT NULL,
    end_us    BIGINT NOT NULL,
    reason    VARCHAR NOT NULL,
    source    VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS klines (
    symbol    VARCHAR NOT NULL,
    interval  VARCHAR NOT NULL,
    start_us  BIGINT NOT NULL,
    end_us    BIGINT NOT NULL,
    open      {PRICE_TYPE} NOT NULL,
    high      {PRICE_TYPE} NOT NULL,
    low       {PRICE_TYPE} NOT NULL,
    close     {PRICE_TYPE} NOT NULL,
    volume    {QTY_TYPE} NOT NULL,
    trades    BIGINT,
    source    VARCHAR NOT NULL
);
"""

DEFAULT_DB = Path("data") / "workbench.duckdb"


def connect(path: str | Path = DEFAULT_DB, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and, when writable, create) the tick store at `path`."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        con.execute(DDL)
    return con
