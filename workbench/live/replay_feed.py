"""Stored quotes replayed into the live server, for a `replay:SYMBOLS@FROM..TO` feed.

`ReplayFeed(db_path, spec)` checks up front that the tick store has quotes for the
replay (a ValueError says what is wrong), counts them and finds each symbol's price
decimals (its tick size when the engine must be told about it). `run(put, backlog)`
then feeds them in time order through `workbench.replay.Replay` in the calling thread,
at `speed` (1.0 = real time, 0 = as fast as possible), waiting whenever the engine's
queue holds more than `max_backlog` quotes, and calling `handover()` after each batch (the
server lets its event loop have its turn there: see `feeds.LoopTurns`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from ..domain import DEFAULT_INSTRUMENTS, Instrument
from ..replay import Replay
from ..store.schema import connect
from .feed_spec import FeedSpec
from .sink import QuoteTuple

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_TICK = Decimal("0.01")


def iso(t_us: int) -> str:
    """µs since the epoch as ISO time in UTC, to the millisecond."""
    dt = _EPOCH + timedelta(microseconds=t_us)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dp_sql(col: str) -> str:
    """SQL for the decimals (0..8) an int of 1e-8 units needs."""
    whens = " ".join(f"WHEN {col} % {10 ** (8 - k)} = 0 THEN {k}" for k in range(8))
    return f"CASE {whens} ELSE 8 END"


def open_store(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the tick store for reading: read-only, or shared with a writable connection this
    process already has. A ValueError when it is missing or locked by another process."""
    path = Path(db_path)
    if not path.is_file():
        raise ValueError(
            f"no tick store at {path}: record or import quotes first "
            "(workbench record / workbench import)"
        )
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.ConnectionException:  # open here already, writable: share that database
        return connect(path)
    except duckdb.Error as exc:
        raise ValueError(f"cannot open the tick store {path}: {exc}") from None


class ReplayFeed:
    """One replay of stored quotes into a quote sink; see the module docstring."""

    def __init__(
        self,
        db_path: str | Path,
        spec: FeedSpec,
        *,
        speed: float = 1.0,
        max_backlog: int = 20_000,
        batch: int | None = None,
    ) -> None:
        """`batch`: quotes per `put` (default: a quarter of `max_backlog`, at most 2000)."""
        if spec.kind != "replay":
            raise ValueError(f"not a replay feed: {spec}")
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 means as fast as possible)")
        if max_backlog <= 0:
            raise ValueError("max_backlog must be positive")
        batch = min(2_000, max(1, max_backlog // 4)) if batch is None else batch
        if not 0 < batch <= max_backlog:
            raise ValueError("need 0 < batch <= max_backlog")
        self.db_path = Path(db_path)
        self.spec = spec
        self.symbols = spec.symbols
        self.speed = float(speed)
        self.max_backlog, self.batch = max_backlog, batch
        self.fed = 0
        self.last_t: int | None = None
        self.finished = False
        self._stop = threading.Event()
        self._replay: Replay | None = None
        con = open_store(self.db_path)
        try:
            self._survey(con)
        finally:
            con.close()

    def _survey(self, con: duckdb.DuckDBPyConnection) -> None:
        """Count the quotes to replay and find each symbol's decimals; refuse an empty replay."""
        params: dict[str, Any] = {"syms": list(self.symbols)}
        where = "list_contains($syms, symbol)"
        if self.spec.start_us is not None:
            where += " AND t >= $lo"
            params["lo"] = self.spec.start_us
        if self.spec.end_us is not None:
            where += " AND t < $hi"
            params["hi"] = self.spec.end_us
        units = "CAST(CAST({} AS DECIMAL(38, 8)) * 100000000 AS BIGINT)"
        sql = f"""SELECT symbol, count(*), min(t), max(t),
                         max(greatest({_dp_sql("ub")}, {_dp_sql("ua")}))
                  FROM (SELECT symbol, t, {units.format("bid")} AS ub, {units.format("ask")} AS ua
                        FROM quotes WHERE {where})
                  GROUP BY symbol"""
        try:
            rows = con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise ValueError(f"cannot read quotes from {self.db_path}: {exc}") from None
        found = {r[0]: r for r in rows}
        self.total = sum(int(r[1]) for r in rows)
        self.decimals = {s: int(r[4]) for s, r in found.items()}
        self.missing = tuple(s for s in self.symbols if s not in found)
        if not self.total:
            raise ValueError(self._nothing_to_replay(con))
        self.first_t = min(int(r[2]) for r in rows)
        self.last_stored_t = max(int(r[3]) for r in rows)

    def _nothing_to_replay(self, con: duckdb.DuckDBPyConnection) -> str:
        lo, hi = self.spec.start_us, self.spec.end_us
        span = f"from {iso(lo) if lo is not None else 'the start'} to "
        span += iso(hi) if hi is not None else "the end"
        stored = con.execute(
            "SELECT symbol, min(t), max(t) FROM quotes GROUP BY symbol ORDER BY symbol"
        ).fetchall()
        held = "; ".join(f"{s} {iso(a)}..{iso(b)}" for s, a, b in stored[:20]) or "none"
        return (
            f"no stored quotes of {', '.join(self.symbols)} {span} in {self.db_path} "
            f"(stored: {held})"
        )

    # ------------------------------------------------------------------ what it needs
    def instruments(self) -> list[Instrument]:
        """Instruments for the replayed symbols the engine does not have by default, with the
        tick their stored prices show (0.01 when none)."""
        known = {i.symbol for i in DEFAULT_INSTRUMENTS}
        out = []
        for sym in self.symbols:
            if sym in known:
                continue
            dp = self.decimals.get(sym)
            tick = Decimal(1).scaleb(-dp) if dp is not None else _DEFAULT_TICK
            out.append(Instrument(sym, tick_size=tick))
        return out

    def clock_us(self) -> int:
        """The replay's virtual time: the time of the last quote fed (the first before)."""
        return self.last_t if self.last_t is not None else self.first_t

    def progress(self) -> dict[str, Any]:
        """Replay progress, JSON-able."""
        t = self.clock_us()
        return {
            "fed": self.fed,
            "total": self.total,
            "replay_t_us": t,
            "replay_time": iso(t),
            "from_us": self.spec.start_us,
            "to_us": self.spec.end_us,
            "speed": self.speed,
            "finished": self.finished,
        }

    # ------------------------------------------------------------------ running
    def stop(self) -> None:
        """End `run` soon; safe from any thread."""
        self._stop.set()
        if self._replay is not None:
            self._replay.stop()

    def run(
        self, put: Callable[[list[QuoteTuple]], None], backlog: Callable[[], int],
        handover: Callable[[], object] | None = None,
    ) -> None:  # fmt: skip
        """Feed every quote to `put` in time order until the end or `stop()`; blocks.
        `handover()` is called after each batch put (it may wait)."""

        def feed(ks: list[int], ts: list[int], bids: list[int], asks: list[int]) -> int:
            names = self.symbols
            n = len(ts)
            for a in range(0, n, self.batch):
                b = min(n, a + self.batch)
                while backlog() + (b - a) > self.max_backlog:
                    if self._stop.is_set():
                        return a
                    time.sleep(0.002)
                put(
                    [
                        (names[k], t, bid, ask)
                        for k, t, bid, ask in zip(
                            ks[a:b], ts[a:b], bids[a:b], asks[a:b], strict=True
                        )
                    ]
                )
                self.fed += b - a
                self.last_t = ts[b - 1]
                if handover is not None:
                    handover()
            return n

        con = open_store(self.db_path)
        try:
            self._replay = Replay(
                None, con, list(self.symbols), self.spec.start_us, self.spec.end_us,
                speed=self.speed, feed=feed, chunk_rows=max(self.batch, 8_192),
            )  # fmt: skip
            if self._stop.is_set():
                self._replay.stop()
            self._replay.run()
            self.finished = not self._stop.is_set()
        finally:
            con.close()
