"""The history database: every engine event of a live engine, in DuckDB.

Two append-only tables: `events` holds each event as the exact JSON line that was
served (and that `workbench simulate` of the journal prints), with its sequence number,
time, type, account and order ref as columns to query by; `inputs` holds every command
(not the quotes) as journaled, with its journal index. An order is its `open` (or
pending `order`) input, its `opened` event, the `modified` and `reduced` events of it
and, once closed, its `closed` event. Storing is idempotent by sequence number and
journal index, so recovery can offer replayed ones again safely.
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
#: (open or order input, `opened`, `closed` or None, its `modified` and `reduced` events)
OrderRow = tuple[dict[str, Any], Event, Event | None, list[Event]]
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
        #: (account, ref) of every position ever partly closed (see `was_reduced`)
        self.reduced: set[tuple[str, str]] = {
            (a, r) for a, r in cur.execute(
                "SELECT DISTINCT account, ref FROM events WHERE type = 'reduced'").fetchall()
        }  # fmt: skip
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
        self.note_reduced(events)  # at once: the callers' next command may ask
        self._queue.put((events, commands, index))

    def note_reduced(self, events: Iterable[Event]) -> None:
        """Remember the positions these events closed a part of (see `was_reduced`)."""
        for ev in events:
            if ev["type"] == "reduced":
                self.reduced.add((ev["account"], ev["ref"]))

    def was_reduced(self, account: str, ref: str) -> bool:
        """Whether a part of this position was closed: a `reduced` handed over or noted
        (a command is answered before its batch is handed over, after every earlier one)."""
        return (account, ref) in self.reduced

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
    ) -> list[OrderRow]:  # fmt: skip
        """(open or order input, opened, closed or None, changes) per position of
        `account`, newest first; `changes` are its `modified` events (those of the pending
        order before it filled too) and `reduced` events, in sequence order."""
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
            SELECT i.body, o.body, c.body, o.seq, c.seq FROM events o
            JOIN inputs i ON i.type IN ('open', 'order') AND i.account = o.account
                 AND i.ref = o.ref
            LEFT JOIN events c ON c.type = 'closed' AND c.account = o.account
                 AND c.ref = o.ref AND c.seq > o.seq
            WHERE {" AND ".join(where)}
            ORDER BY o.seq DESC LIMIT $n"""
        cur = self.cursor()
        try:
            rows = cur.execute(sql, params).fetchall()
            changes = self._changes(cur, account, ref) if rows else {}
        finally:
            cur.close()
        out: list[OrderRow] = []
        for i, o, c, o_seq, c_seq in rows:
            opened = json.loads(o)
            end = c_seq if c_seq is not None else 1 << 62
            mine = [ev for seq, ev in changes.get(opened["ref"], ())
                    if seq < end and (ev["type"] == "modified" or seq > o_seq)]  # fmt: skip
            out.append((json.loads(i), opened, None if c is None else json.loads(c), mine))
        return out

    @staticmethod
    def _changes(
        cur: duckdb.DuckDBPyConnection, account: str, ref: str | None
    ) -> dict[str, list[tuple[int, Event]]]:
        """The account's `modified` and `reduced` events by ref, in sequence order."""
        sql = ("SELECT ref, seq, body FROM events WHERE account = $a "
               "AND type IN ('modified', 'reduced')")  # fmt: skip
        params: dict[str, Any] = {"a": account}
        if ref is not None:
            sql += " AND ref = $r"
            params["r"] = ref
        out: dict[str, list[tuple[int, Event]]] = {}
        for r, seq, body in cur.execute(sql + " ORDER BY seq", params).fetchall():
            out.setdefault(r, []).append((seq, json.loads(body)))
        return out

    def lines(self) -> list[str]:
        """Every stored event line in sequence order."""
        cur = self.cursor()
        try:
            return [r[0] for r in cur.execute("SELECT body FROM events ORDER BY seq").fetchall()]
        finally:
            cur.close()
