"""The history database: every engine event of a live engine, in DuckDB.

One append-only table, `events`, holds each event as the exact JSON line that was
served (and that `workbench simulate` of the journal prints), with its sequence number,
time, type, account and order ref as columns to query by. Orders are a view over it:
an `opened` event and, once closed, its `closed` event. Storing is idempotent by
sequence number, so recovery can offer the replayed events again safely.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

Event = dict[str, Any]

DDL = """
CREATE TABLE IF NOT EXISTS events (
    seq      BIGINT NOT NULL,
    t        BIGINT NOT NULL,
    type     VARCHAR NOT NULL,
    account  VARCHAR,
    ref      VARCHAR,
    body     VARCHAR NOT NULL      -- the event exactly as served, one JSON object
);
"""

_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("t", pa.int64()),
        ("type", pa.string()),
        ("account", pa.string()),
        ("ref", pa.string()),
        ("body", pa.string()),
    ]
)


def event_line(ev: Event) -> str:
    """The one JSON text of an event (as `workbench simulate` writes it)."""
    return json.dumps(ev)


class History:
    """Events of one data directory's engine; `record` from one thread, reads from any."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        con.execute(DDL)
        self._lock = threading.Lock()
        row = con.cursor().execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        self.max_seq = int(row[0]) if row else 0

    @classmethod
    def open(cls, path: Path) -> History:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(duckdb.connect(str(path)))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the history's connection, for the calling thread."""
        return self._con.cursor()

    def record(self, events: Iterable[Event]) -> int:
        """Store events not stored yet (seq above the highest stored); returns how many."""
        cols: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
        with self._lock:
            top = self.max_seq
            for ev in events:
                seq = ev["seq"]
                if seq <= top:
                    continue
                top = seq
                cols["seq"].append(seq)
                cols["t"].append(ev["t"])
                cols["type"].append(ev["type"])
                cols["account"].append(ev.get("account"))
                ref = ev.get("ref")
                cols["ref"].append(None if ref is None else str(ref))
                cols["body"].append(event_line(ev))
            n = len(cols["seq"])
            if not n:
                return 0
            table = pa.table(cols, schema=_SCHEMA)
            cur = self._con.cursor()
            try:
                cur.register("_new_events", table)
                cur.execute("INSERT INTO events SELECT * FROM _new_events")
                cur.unregister("_new_events")
            finally:
                cur.close()
            self.max_seq = top
        return n

    # --------------------------------------------------------------- reads
    def orders(
        self, account: str, status: str | None = None, ref: str | None = None,
        limit: int = 1000,
    ) -> list[tuple[Event, Event | None]]:  # fmt: skip
        """(opened, closed or None) per order of `account`, newest first."""
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
            SELECT o.body, c.body FROM events o
            LEFT JOIN events c ON c.type = 'closed' AND c.account = o.account
                 AND c.ref = o.ref AND c.seq > o.seq
            WHERE {" AND ".join(where)}
            ORDER BY o.seq DESC LIMIT $n"""
        cur = self.cursor()
        try:
            rows = cur.execute(sql, params).fetchall()
        finally:
            cur.close()
        return [(json.loads(a), None if b is None else json.loads(b)) for a, b in rows]

    def events(self, account: str | None = None, after: int = 0, limit: int = 1000) -> list[Event]:
        """Events in sequence order (of one account when given), after sequence `after`."""
        where = "seq > $after" + (" AND account = $a" if account is not None else "")
        params: dict[str, Any] = {"after": after, "n": limit}
        if account is not None:
            params["a"] = account
        cur = self.cursor()
        try:
            rows = cur.execute(
                f"SELECT body FROM events WHERE {where} ORDER BY seq LIMIT $n", params
            ).fetchall()
        finally:
            cur.close()
        return [json.loads(r[0]) for r in rows]

    def lines(self) -> list[str]:
        """Every stored event line in sequence order."""
        cur = self.cursor()
        try:
            return [r[0] for r in cur.execute("SELECT body FROM events ORDER BY seq").fetchall()]
        finally:
            cur.close()
