"""Import Binance captures recorded by hftbacktest into the tick store.

Reader threads decompress the files and cut them into lines (numpy, no Python loop); DuckDB
picks the bookTicker and trade lines, splits each frame on '"' and casts prices from their
text to DECIMAL, exactly.
A frame in an unusual layout, or with a number DuckDB would round, goes through the JSON
parser instead (which refuses inexact prices). Re-importing a file adds no rows.

The record-level readers (`read_capture`, `capture_quotes`, `engine_quotes`) live in
`binance_ws` and are re-exported here.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..store.schema import PRICE_TYPE, QTY_TYPE
from ..store.writer import insert_quotes, insert_trades, quotes_arrow, trades_arrow
from ..ticks import Quote, Trade
from . import ImportResult
from .binance_ws import (
    BadFrame,
    capture_quotes,
    engine_quotes,
    gunzip_line_chunks,
    parse_frame,
    read_capture,
)

__all__ = [
    "SOURCE", "BadFrame", "capture_quotes", "engine_quotes", "import_captures", "read_capture",
]  # fmt: skip

SOURCE = "binance-hftbacktest"
CHUNK = 1 << 21  # compressed bytes decompressed at a time
BATCH_LINES = 250_000  # lines (of any stream) per DuckDB batch
READERS = 2  # threads decompressing files ahead (zlib and numpy run without the GIL)
QUEUE_CHUNKS = 4  # decompressed chunks a reader may hold per file


def _num_ok(x: str) -> str:
    """SQL: the text `x` casts to DECIMAL(.., 8) without rounding (no exponent, <= 8 decimals)."""
    return (
        f"(strpos({x}, 'e') = 0 AND strpos({x}, 'E') = 0 AND "
        f"(strpos({x}, '.') = 0 OR length({x}) - strpos({x}, '.') <= 8))"
    )


# Split on '"': a bookTicker frame {"stream":"x@bookTicker","data":{"u":1,"s":"X","b":"..",
# "B":"..","a":"..","A":".."}} gives 29 parts with the keys and values at fixed places.
_QUOTE_STAGE = f"""
CREATE OR REPLACE TEMP TABLE _hb_q AS
SELECT n, symbol, recv AS t, NULL::BIGINT AS e, recv, bid, ask, bid_qty, ask_qty, update_id,
       '{SOURCE}' AS source,
       ok AND recv IS NOT NULL AND update_id IS NOT NULL AND bid IS NOT NULL AND ask IS NOT NULL
          AND bid_qty IS NOT NULL AND ask_qty IS NOT NULL AS ok
FROM (
  SELECT n, p[12] AS symbol,
    TRY_CAST(split_part(p[1], ' ', 1) AS BIGINT) // 1000 AS recv,
    TRY_CAST(trim(p[9], ':,') AS BIGINT) AS update_id,
    TRY_CAST(p[16] AS {PRICE_TYPE}) AS bid, TRY_CAST(p[20] AS {QTY_TYPE}) AS bid_qty,
    TRY_CAST(p[24] AS {PRICE_TYPE}) AS ask, TRY_CAST(p[28] AS {QTY_TYPE}) AS ask_qty,
    (len(p) = 29 AND p[2] = 'stream' AND p[6] = 'data' AND p[8] = 'u' AND p[10] = 's'
     AND p[14] = 'b' AND p[18] = 'B' AND p[22] = 'a' AND p[26] = 'A'
     AND p[29] IN ('}}}}', '}}}}' || chr(10))
     AND {_num_ok("p[16]")} AND {_num_ok("p[20]")} AND {_num_ok("p[24]")}
     AND {_num_ok("p[28]")}) AS ok
  FROM (SELECT n, string_split(l, '"') AS p FROM _hb_lines
        WHERE strpos(l, '@bookTicker"') BETWEEN 1 AND 120)
)"""

# A trade frame {"stream":"x@trade","data":{"e":"trade","E":1,"s":"X","t":1,"p":"..",
# "q":"..","T":1,"m":true,"M":true}} gives 33 parts.
_TRADE_STAGE = f"""
CREATE OR REPLACE TEMP TABLE _hb_t AS
SELECT n, symbol, trade_id, t, e, recv, price, qty, buyer_maker, '{SOURCE}' AS source,
       ok AND trade_id IS NOT NULL AND t IS NOT NULL AND e IS NOT NULL AND recv IS NOT NULL
          AND price IS NOT NULL AND qty IS NOT NULL AS ok
FROM (
  SELECT n, p[16] AS symbol,
    TRY_CAST(trim(p[19], ':,') AS BIGINT) AS trade_id,
    TRY_CAST(trim(p[29], ':,') AS BIGINT) * 1000 AS t,
    TRY_CAST(trim(p[13], ':,') AS BIGINT) * 1000 AS e,
    TRY_CAST(split_part(p[1], ' ', 1) AS BIGINT) // 1000 AS recv,
    TRY_CAST(p[22] AS {PRICE_TYPE}) AS price, TRY_CAST(p[26] AS {QTY_TYPE}) AS qty,
    p[31] = ':true,' AS buyer_maker,
    (len(p) = 33 AND p[2] = 'stream' AND p[6] = 'data' AND p[8] = 'e' AND p[12] = 'E'
     AND p[14] = 's' AND p[18] = 't' AND p[20] = 'p' AND p[24] = 'q' AND p[28] = 'T'
     AND p[30] = 'm' AND p[31] IN (':true,', ':false,')
     AND {_num_ok("p[22]")} AND {_num_ok("p[26]")}) AS ok
  FROM (SELECT n, string_split(l, '"') AS p FROM _hb_lines
        WHERE strpos(l, '@trade"') BETWEEN 1 AND 120)
)"""

# Lines the fast test above does not see (no stream name at the start) that may still be frames.
_ODD_LINES = """
SELECT n, l FROM _hb_lines
WHERE strpos(l, '@') NOT BETWEEN 1 AND 120 AND contains(l, '"stream"')
  AND (contains(l, '@bookTicker"') OR contains(l, '@trade"'))
ORDER BY n"""


def import_captures(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    *,
    progress: Callable[[int], None] | None = None,
    batch_lines: int = BATCH_LINES,
) -> ImportResult:
    """Import the quotes and trades of capture files; `progress(n)` gets compressed bytes read.

    Rows are stored in file order, then line order. Each batch of about `batch_lines`
    lines is committed on its own.
    """
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"no capture file {f}")
    cur = con.cursor()  # our own session: temp tables and transactions stay private
    reader = _Readers(files)
    result = ImportResult()
    pending: list[pa.Array] = []
    size = 0
    try:
        for arr, nbytes in reader.chunks():
            pending.append(arr)
            size += len(arr)
            if size >= batch_lines:
                result.add(_flush(cur, pending))
                pending, size = [], 0
            if progress is not None:
                progress(nbytes)
        if pending:
            result.add(_flush(cur, pending))
    finally:
        reader.close()
        cur.close()
    return result


class _Readers:
    """Threads that decompress files ahead of the importer, handing chunks over in file order."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.queues: list[queue.Queue[object]] = [queue.Queue(maxsize=QUEUE_CHUNKS) for _ in files]
        self.stop = threading.Event()
        self.next_file = 0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._work, name=f"capture-reader-{i}", daemon=True)
            for i in range(min(READERS, len(files)))
        ]
        for th in self.threads:
            th.start()

    def _work(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                i = self.next_file
                self.next_file += 1
            if i >= len(self.files):
                return
            q = self.queues[i]
            try:
                for item in line_arrays(self.files[i]):
                    if not self._put(q, item):
                        return
                self._put(q, None)
            except BaseException as e:  # handed to the importing thread
                self._put(q, e)
                return

    def _put(self, q: queue.Queue[object], item: object) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def chunks(self) -> Iterator[tuple[pa.Array, int]]:
        for q in self.queues:
            while (item := q.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]

    def close(self) -> None:
        self.stop.set()
        for th in self.threads:
            th.join()


def line_arrays(path: str | Path, chunk: int = CHUNK) -> Iterator[tuple[pa.Array, int]]:
    """Complete lines of a gzipped file as Arrow strings (newline kept), with compressed bytes.

    The lines are views on the decompressed buffer, found with numpy: no Python loop.
    """
    for data, nbytes in gunzip_line_chunks(path, chunk):
        buf = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        offsets = np.empty(len(ends) + 1, dtype=np.int64)
        offsets[0] = 0
        np.add(ends, 1, out=offsets[1:])
        arr = pa.Array.from_buffers(
            pa.large_string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
        try:
            arr.validate(full=True)  # UTF-8 check, a few ms per 50 MB
        except pa.ArrowInvalid as e:
            raise BadFrame(f"{path}: not a text capture ({e})") from None
        yield arr, nbytes


def _flush(con: duckdb.DuckDBPyConnection, arrays: list[pa.Array]) -> ImportResult:
    """Stage, check and store one batch of lines in one transaction."""
    lines = pa.chunked_array(arrays, type=pa.large_string())
    table = pa.table({"n": np.arange(len(lines), dtype=np.int64), "l": lines})
    res = ImportResult()
    con.register("_hb_lines", table)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(_QUOTE_STAGE)
            con.execute(_TRADE_STAGE)
            slow = [(n, line.encode()) for n, line in con.execute(_ODD_LINES).fetchall()]
            slow += _take_bad(con, "_hb_q") + _take_bad(con, "_hb_t")
            if slow:
                _add_slow(con, slow)
            res.quotes_read = _count(con, "_hb_q")
            res.trades_read = _count(con, "_hb_t")
            res.quotes = insert_quotes(con, "_hb_q")
            res.trades = insert_trades(con, "_hb_t")
            con.execute("DROP TABLE _hb_q; DROP TABLE _hb_t")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("_hb_lines")
    return res


def _take_bad(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[int, bytes]]:
    """Remove the rows the fast path could not read from `table`; return (n, line) of each."""
    bad = con.execute(
        f"SELECT n, l FROM _hb_lines WHERE n IN (SELECT n FROM {table} WHERE NOT ok) ORDER BY n"
    ).fetchall()
    if bad:
        con.execute(f"DELETE FROM {table} WHERE NOT ok")
    return [(n, line.encode()) for n, line in bad]


def _add_slow(con: duckdb.DuckDBPyConnection, lines: list[tuple[int, bytes]]) -> None:
    """Read lines with the JSON parser into the staging tables, in line order (`n`)."""
    recs = [(n, r) for n, r in ((n, parse_frame(line)) for n, line in lines) if r is not None]
    quotes = [(n, r) for n, r in recs if isinstance(r, Quote)]
    trades = [(n, r) for n, r in recs if isinstance(r, Trade)]
    for table, rows in (
        ("_hb_q", quotes_arrow([r for _, r in quotes], SOURCE).append_column(
            "n", pa.array([n for n, _ in quotes], pa.int64()))),
        ("_hb_t", trades_arrow([r for _, r in trades], SOURCE).append_column(
            "n", pa.array([n for n, _ in trades], pa.int64()))),
    ):  # fmt: skip
        if rows.num_rows == 0:
            continue
        cols = ", ".join(c for c in con.table(table).columns if c != "ok")
        con.register("_hb_slow", rows)
        try:
            con.execute(f"INSERT INTO {table} SELECT {cols}, true FROM _hb_slow")
        finally:
            con.unregister("_hb_slow")
        # the inserts keep the table's physical order, which must be line order
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS FROM {table} ORDER BY n")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
    return int(row[0]) if row else 0
