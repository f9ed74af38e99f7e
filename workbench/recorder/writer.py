"""The recorder's writer thread: batches rows into DuckDB with appenders, then Parquet.

The thread owns its own DuckDB connection (DuckDB connections are not shared between
threads). Rows queued with `put` are committed at most `flush_interval` seconds after
they arrive, or sooner when `max_batch` rows are waiting; committed rows then go to the
optional `ParquetRoller`. `close()` commits everything still queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from workbench.recorder.parquet import ParquetRoller
from workbench.recorder.rows import COLUMNS, SOURCE
from workbench.store.schema import connect

log = logging.getLogger(__name__)

Seeds = dict[str, dict[str, tuple[int, int]]]
_STOP = object()

_SEED_SQL = {
    "quotes": f"SELECT symbol, max(update_id), max(t) FROM quotes "
    f"WHERE source = '{SOURCE}' AND update_id IS NOT NULL GROUP BY symbol",
    "trades": f"SELECT symbol, max(trade_id), max(t) FROM trades "
    f"WHERE source IN ('{SOURCE}', 'backfill') GROUP BY symbol",
}


class TickWriter:
    """A thread that appends queued rows to the tick store in timed batches."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        roller: ParquetRoller | None = None,
        flush_interval: float = 0.5,
        max_batch: int = 20_000,
    ) -> None:
        self.db_path = Path(db_path)
        self.roller = roller
        self.flush_interval, self.max_batch = flush_interval, max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._seeds: Seeds = {}
        self.committed = {table: 0 for table in COLUMNS}
        self.rejected = 0
        self.last_commit_us: int | None = None
        self.error: BaseException | None = None

    def start(self) -> Seeds:
        """Open the database in the writer thread; return the last ids stored per symbol
        (`{"quotes": {sym: (update_id, t)}, "trades": {sym: (trade_id, t)}}`)."""
        self._thread = threading.Thread(target=self._run, name="tick-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self.error is not None:
            raise self.error
        return self._seeds

    def put(self, table: str, row: Sequence[object]) -> None:
        """Queue one row (a tuple in `table`'s column order); safe from any thread."""
        self._queue.put((table, row))

    def close(self, timeout: float | None = None) -> None:
        """Commit everything queued, roll the last Parquet files, close the database."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        if self.error is not None:
            raise self.error

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            con = connect(self.db_path)
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        try:
            for table, sql in _SEED_SQL.items():
                rows = con.execute(sql).fetchall()
                self._seeds[table] = {s: (int(i), int(t)) for s, i, t in rows}
            appenders = {table: con.appender(table) for table in COLUMNS}
        except BaseException as exc:
            self.error = exc
            con.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(con, appenders)
        except BaseException as exc:
            log.exception("tick writer failed")
            self.error = exc
        finally:
            con.close()

    def _loop(self, con: duckdb.DuckDBPyConnection, appenders: dict[str, Any]) -> None:
        pending: dict[str, list[Sequence[object]]] = {table: [] for table in COLUMNS}
        oldest: float | None = None
        stopping = False
        while not stopping:
            deadlines = [
                d
                for d in (
                    None if oldest is None else oldest + self.flush_interval,
                    self.roller.deadline() if self.roller else None,
                )
                if d is not None
            ]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                table, row = item
                pending[table].append(row)
                if oldest is None:
                    oldest = time.monotonic()
                if sum(map(len, pending.values())) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if oldest is not None and (
                stopping
                or time.monotonic() >= oldest + self.flush_interval
                or sum(map(len, pending.values())) >= self.max_batch
            ):
                self._commit(con, appenders, pending)
                oldest = None
            if self.roller is not None and (stopping or self.roller.due()):
                self.roller.roll()

    def _commit(
        self,
        con: duckdb.DuckDBPyConnection,
        appenders: dict[str, Any],
        pending: dict[str, list[Sequence[object]]],
    ) -> None:
        for table, rows in pending.items():
            if not rows:
                continue
            good = self._append(con, appenders, table, rows)
            self.committed[table] += len(good)
            if self.roller is not None:
                self.roller.add(table, good)
            rows.clear()
        self.last_commit_us = time.time_ns() // 1000

    def _append(
        self,
        con: duckdb.DuckDBPyConnection,
        appenders: dict[str, Any],
        table: str,
        rows: list[Sequence[object]],
    ) -> list[Sequence[object]]:
        """Append and flush `rows`; on an error retry one by one, dropping only bad rows."""
        try:
            appenders[table].append_rows(rows)
            appenders[table].flush()
            return rows
        except duckdb.Error:
            log.exception("batch of %d %s rows failed; retrying row by row", len(rows), table)
        appenders[table].clear()
        good = []
        for row in rows:
            appender = appenders[table] = con.appender(table)
            try:
                appender.append_row(*row)
                appender.flush()
                good.append(row)
            except duckdb.Error as exc:
                self.rejected += 1
                log.error("dropped a %s row the store refused (%s): %r", table, exc, row)
        return good
