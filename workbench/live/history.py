"""The history database: every engine event of a live engine, in DuckDB.

Two append-only tables: `events` holds each event as the exact JSON line that was
served (and that `workbench simulate` of the journal prints), with its sequence number,
time, type, account and order ref as columns to query by; `inputs` holds every command
(not the quotes) as journaled, with its journal index. An order is its `open` input,
its `opened` event and, once closed, its `closed` event. Storing is idempotent by
sequence number and journal index, so recovery can offer replayed ones again safely.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

Event = dict[str, Any]
log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS events (
    seq      BIGINT NOT NULL,
    t        BIGINT NOT NULL,
    type     VARCHAR NOT NULL,
    account  VARCHAR,
    ref      VARCHAR,
    body     VARCHAR NOT NULL      -- the event exactly as served, one JSON object
);
CREATE TABLE IF NOT EXISTS inputs (
    idx      BIGINT NOT NULL,      -- journal record index
    t        BIGINT NOT NULL,
    type     VARCHAR NOT NULL,
    account  VARCHAR,
    ref      VARCHAR,
    body     VARCHAR NOT NULL      -- the journal line
);
"""

_EVENTS = pa.schema(
    [("seq", pa.int64()), ("t", pa.int64()), ("type", pa.string()), ("account", pa.string()),
     ("ref", pa.string()), ("body", pa.string())]
)  # fmt: skip
_INPUTS = pa.schema([("idx", pa.int64()), *list(_EVENTS)[1:]])


def _insert(cur: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema, rows: list) -> None:
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    data = pa.table([pa.array(c, f.type) for c, f in zip(cols, schema, strict=True)],
                    schema=schema)  # fmt: skip
    cur.register("_rows", data)
    try:
        cur.execute(f"INSERT INTO {table} SELECT * FROM _rows")
    finally:
        cur.unregister("_rows")


def event_line(ev: Event) -> str:
    """The one JSON text of an event (as `workbench simulate` writes it)."""
    return json.dumps(ev)


class History:
    """Events of one data directory's engine; `record` from one thread, reads from any.

    A live engine hands its durable batches to `put` (never blocks) and a writer thread
    stores them in groups; `wait(index)` blocks until everything up to journal record
    `index` is stored, so a read sees what was acknowledged before it.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        con.execute(DDL)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stored = threading.Condition()
        self.stored_index = 0  # journal records whose events and commands are stored
        self.errors = 0
        self._writer: threading.Thread | None = None
        cur = con.cursor()
        self.max_seq = int(cur.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0][0])
        self.max_idx = int(cur.execute("SELECT coalesce(max(idx), 0) FROM inputs").fetchall()[0][0])
        cur.close()

    @classmethod
    def open(cls, path: Path) -> History:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(duckdb.connect(str(path)))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the history's connection, for the calling thread."""
        return self._con.cursor()

    def record(
        self, events: Iterable[Event], commands: Iterable[tuple[int, dict[str, Any]]] = ()
    ) -> int:
        """Store what is not stored yet (by seq, by journal index); returns the events added."""
        with self._lock:
            top = self.max_seq
            ev_rows = []
            for ev in events:
                if ev["seq"] > top:
                    top = ev["seq"]
                    ev_rows.append((top, ev["t"], ev["type"], ev.get("account"), ev.get("ref"),
                                    event_line(ev)))  # fmt: skip
            itop = self.max_idx
            in_rows = []
            for idx, rec in commands:
                if idx > itop:
                    itop = idx
                    in_rows.append((idx, rec["t"], rec["type"], rec.get("account"),
                                    rec.get("ref"), json.dumps(rec, default=str)))  # fmt: skip
            cur = self._con.cursor()
            try:
                if ev_rows or in_rows:
                    cur.execute("BEGIN TRANSACTION")
                    _insert(cur, "events", _EVENTS, ev_rows)
                    _insert(cur, "inputs", _INPUTS, in_rows)
                    cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
            self.max_seq, self.max_idx = top, itop
        return len(ev_rows)

    # ------------------------------------------------------- the writer thread
    def start(self, stored_index: int) -> None:
        """Start storing what `put` hands over; all up to `stored_index` is stored already."""
        self.stored_index = stored_index
        self._writer = threading.Thread(target=self._write_loop, name="workbench-history",
                                        daemon=True)  # fmt: skip
        self._writer.start()

    def put(
        self, events: list[Event], commands: list[tuple[int, dict[str, Any]]], index: int
    ) -> None:
        """Queue a durable batch, covering the journal up to `index`, for storing."""
        self._queue.put((events, commands, index))

    def wait(self, index: int, timeout: float = 30.0) -> bool:
        """Block until the history holds everything up to journal record `index`."""
        with self._stored:
            return self._stored.wait_for(lambda: self.stored_index >= index, timeout)

    def stop(self) -> None:
        """Store what is queued, then end the writer thread."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(60)
            self._writer = None

    def _write_loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            batches = [b for b in items if b is not None]
            if batches:
                try:
                    self.record([e for b in batches for e in b[0]],
                                [c for b in batches for c in b[1]])  # fmt: skip
                except Exception:
                    self.errors += 1
                    log.exception("storing %d batches in the history failed", len(batches))
                with self._stored:
                    self.stored_index = max(self.stored_index, batches[-1][2])
                    self._stored.notify_all()
            if len(batches) < len(items):
                return

    # --------------------------------------------------------------- reads
    def orders(
        self, account: str, status: str | None = None, ref: str | None = None,
        limit: int = 1000,
    ) -> list[tuple[dict[str, Any], Event, Event | None]]:  # fmt: skip
        """(open input, opened, closed or None) per order of `account`, newest first."""
        where = ["o.type = 'opened'", "o.account = $a"]
        params: dict[str, Any] = {"a": account, "n": limit}
        if ref is not None:
            where.append("o.ref = $r")
            params["r"] = ref
        if status == "open":
            where.append("c.seq IS NULL")
        elif status == "closed":
            where.append("c.seq IS NOT NULL")
        sql = f"""
            SELECT i.body, o.body, c.body FROM events o
            JOIN inputs i ON i.type = 'open' AND i.account = o.account AND i.ref = o.ref
            LEFT JOIN events c ON c.type = 'closed' AND c.account = o.account
                 AND c.ref = o.ref AND c.seq > o.seq
            WHERE {" AND ".join(where)}
            ORDER BY o.seq DESC LIMIT $n"""
        cur = self.cursor()
        try:
            rows = cur.execute(sql, params).fetchall()
        finally:
            cur.close()
        return [(json.loads(i), json.loads(o), None if c is None else json.loads(c))
                for i, o, c in rows]  # fmt: skip

    def lines(self) -> list[str]:
        """Every stored event line in sequence order."""
        cur = self.cursor()
        try:
            return [r[0] for r in cur.execute("SELECT body FROM events ORDER BY seq").fetchall()]
        finally:
            cur.close()
