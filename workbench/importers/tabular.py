"""Import quotes from a CSV or Parquet file into the tick store.

Columns: `symbol, t, bid, ask` and optionally `bid_qty, ask_qty, update_id, recv, e`
(`symbol` may be left out when a symbol is given). `t` is integer µs since the epoch (a
Parquet TIMESTAMP column is also accepted). Prices must be exact decimals with at most 8
decimal places, as text or DECIMAL: a float column is refused, since binary floating point
cannot hold prices exactly. The first bad value stops the import with an error naming its
column and row; nothing is stored then. Re-importing a file adds no rows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..store.schema import PRICE_TYPE, QTY_TYPE
from ..store.writer import insert_quotes
from . import ImportResult

COLUMNS = ("symbol", "t", "bid", "ask", "bid_qty", "ask_qty", "update_id", "recv", "e")
REQUIRED = ("t", "bid", "ask")
FORMATS = ("csv", "parquet")
_DECIMAL_TEXT = r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)"
_INT_TEXT = r"[+-]?[0-9]+"
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


class TableError(ValueError):
    """A CSV/Parquet file that cannot be imported as quotes; the message says where and why."""


def detect_format(path: str | Path) -> str:
    """'csv' or 'parquet' from the file name (.csv, .csv.gz, .tsv, .parquet, .pq)."""
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        return "csv"
    raise TableError(f"{path}: cannot tell the format from the name; say csv or parquet")


def import_quotes_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    fmt: str | None = None,
    symbol: str | None = None,
    source: str | None = None,
) -> ImportResult:
    """Check every row of a CSV/Parquet quote file, then store the rows not yet stored.

    `symbol` fills a missing `symbol` column (or must match every row of one).
    `source` defaults to the format name ('csv' or 'parquet').
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"no such file: {path}")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise TableError(f"unknown format {fmt!r} (use csv or parquet)")
    if symbol is not None and not symbol.strip():
        raise TableError("--symbol must not be empty")
    cur = con.cursor()  # our own session: temp tables and the transaction stay private
    try:
        return _import(cur, path, fmt, symbol, source or fmt)
    finally:
        cur.close()


def _import(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, symbol: str | None, source: str
) -> ImportResult:
    src = str(path).replace("'", "''")
    if fmt == "csv":
        scan = f"read_csv('{src}', header = true, all_varchar = true)"
    else:
        scan = f"read_parquet('{src}')"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        types = {str(name).lower(): str(typ) for name, typ, *_ in described}
    except duckdb.Error as e:
        raise TableError(f"{path}: cannot read it as {fmt}: {e}") from None
    _check_columns(path, types, symbol)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_stage_sql(scan, types, symbol, source))
        _check_rows(con, path, fmt, symbol)
        n_read = _count(con)
        added = insert_quotes(con, "_tab_q")
        con.execute("DROP TABLE _tab_q")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return ImportResult(quotes=added, quotes_read=n_read)


def _check_columns(path: Path, types: dict[str, str], symbol: str | None) -> None:
    unknown = [c for c in types if c not in COLUMNS]
    if unknown:
        raise TableError(
            f"{path}: unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}"
        )
    missing = [c for c in REQUIRED if c not in types]
    if "symbol" not in types and symbol is None:
        missing.insert(0, "symbol")
    if missing:
        hint = " (or give --symbol)" if "symbol" in missing else ""
        raise TableError(f"{path}: missing column(s) {', '.join(missing)}{hint}")
    for col, typ in types.items():
        if typ.upper() in _FLOAT_TYPES:
            raise TableError(
                f"{path}: column {col!r} is {typ}: binary floating point cannot hold prices "
                "exactly; store it as DECIMAL or as text"
            )


def _text(col: str, typ: str) -> str:
    """SQL giving the column's value as trimmed text (a TIMESTAMP `t` as µs since the epoch)."""
    if col == "t" and typ.upper().startswith("TIMESTAMP"):
        return f'CAST(epoch_us("{col}") AS VARCHAR)'
    return f'trim(CAST("{col}" AS VARCHAR))'


def _stage_sql(scan: str, types: dict[str, str], symbol: str | None, source: str) -> str:
    """A staging table with each value's text (`raw_*`) and its cast (NULL when it fails)."""
    sym = "'" + symbol.replace("'", "''") + "'" if symbol is not None else "NULL"
    raw = [
        f"{_text(c, types[c])} AS raw_{c}" if c in types else f"NULL AS raw_{c}" for c in COLUMNS
    ]
    src = source.replace("'", "''")
    return f"""
CREATE OR REPLACE TEMP TABLE _tab_q AS
SELECT row_number() OVER () AS n,
       coalesce(raw_symbol, {sym}) AS symbol,
       TRY_CAST(raw_t AS BIGINT) AS t,
       TRY_CAST(raw_e AS BIGINT) AS e,
       coalesce(TRY_CAST(raw_recv AS BIGINT), TRY_CAST(raw_t AS BIGINT)) AS recv,
       TRY_CAST(raw_bid AS {PRICE_TYPE}) AS bid,
       TRY_CAST(raw_ask AS {PRICE_TYPE}) AS ask,
       TRY_CAST(raw_bid_qty AS {QTY_TYPE}) AS bid_qty,
       TRY_CAST(raw_ask_qty AS {QTY_TYPE}) AS ask_qty,
       TRY_CAST(raw_update_id AS BIGINT) AS update_id,
       '{src}' AS source,
       *
FROM (SELECT {", ".join(raw)} FROM {scan})"""


def _problems(symbol: str | None) -> list[tuple[str, str, str]]:
    """(column, SQL condition of a bad value, what is wrong) in the order they are reported."""
    out: list[tuple[str, str, str]] = [
        ("symbol", "symbol IS NULL OR symbol = ''", "is empty"),
    ]
    if symbol is not None:
        out.append(("symbol", f"raw_symbol IS NOT NULL AND raw_symbol <> {_lit(symbol)}",
                    f"differs from --symbol {symbol}"))  # fmt: skip
    for col, required in (("t", True), ("recv", False), ("e", False), ("update_id", False)):
        present = f"raw_{col} IS NOT NULL AND raw_{col} <> ''"
        if required:
            out.append((col, f"raw_{col} IS NULL OR raw_{col} = ''", "is missing"))
        unit = " of microseconds" if col != "update_id" else ""
        out.append((col, f"{present} AND NOT regexp_full_match(raw_{col}, '{_INT_TEXT}')",
                    f"is not an integer{unit}"))  # fmt: skip
        out.append((col, f"{present} AND regexp_full_match(raw_{col}, '{_INT_TEXT}')"
                    f" AND TRY_CAST(raw_{col} AS BIGINT) IS NULL", "is out of range"))  # fmt: skip
    for col, required in (("bid", True), ("ask", True), ("bid_qty", False), ("ask_qty", False)):
        present = f"raw_{col} IS NOT NULL AND raw_{col} <> ''"
        if required:
            out.append((col, f"raw_{col} IS NULL OR raw_{col} = ''", "is missing"))
        out += [
            (col, f"{present} AND NOT regexp_full_match(raw_{col}, '{_DECIMAL_TEXT}')",
             "is not a decimal number"),
            (col, f"{present} AND length(rtrim(split_part(raw_{col}, '.', 2), '0')) > 8",
             "has more than 8 decimal places"),
            (col, f"{present} AND {col} IS NULL", "is out of range"),
            (col, f"{col} < 0" if "qty" in col else f"{col} <= 0",
             "must not be negative" if "qty" in col else "must be positive"),
        ]  # fmt: skip
    out.append(("bid", "bid > ask", "is above the ask"))
    return out


def _check_rows(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, symbol: str | None) -> None:
    """Raise TableError for the first row (and first problem in it) that is not a clean quote."""
    probs = _problems(symbol)
    any_bad = " OR ".join(f"({cond})" for _, cond, _ in probs)
    rows = con.execute(
        f"SELECT n, count(*) OVER () FROM _tab_q WHERE {any_bad} ORDER BY n LIMIT 1"
    ).fetchall()
    if not rows:
        return
    n, nbad = rows[0]
    flags = ", ".join(f"coalesce({cond}, false)" for _, cond, _ in probs)
    hit = con.execute(f"SELECT {flags} FROM _tab_q WHERE n = ?", [n]).fetchall()[0]
    col, what = next((c, w) for (c, _, w), f in zip(probs, hit, strict=True) if f)
    raw = con.execute(f"SELECT raw_{col}, raw_ask FROM _tab_q WHERE n = ?", [n]).fetchall()[0]
    value = "" if raw[0] is None else f" {raw[0]!r}"
    where = f"row {n}" + (f" (line {n + 1})" if fmt == "csv" else "")
    extra = f" ({raw[1]})" if what == "is above the ask" else ""
    more = f"; {nbad - 1} more bad row(s)" if nbad > 1 else ""
    raise TableError(f"{path}: {where}: {col}{value} {what}{extra}{more}")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM _tab_q").fetchall()[0]
    return int(row[0]) if row else 0
