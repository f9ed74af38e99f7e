"""Replay stored quotes into a real Engine: at 1x, at N x, or as fast as possible.

The quotes are read from the tick store in time order (`store.reader.iter_quotes`) and
fed through `Engine.feed_quotes`, or any callable given as `feed` (a live server's quote
queue, say). At a finite speed, a quote at time t is fed once the wall clock has run
(t - t_first) / speed since the start, paused time not counted.
`pause()`, `resume()` and `stop()` may be called from any thread; the engine is only
touched while `lock` is held, so another thread may issue engine commands under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

from .domain import Instrument
from .engine import Engine
from .store.reader import CHUNK_ROWS, TimeLike, count_quotes, iter_quotes

#: Where replayed quotes go: feed(symbol ids, ts, bids, asks) -> how many were accepted.
QuoteFeed = Callable[[list[int], list[int], list[int], list[int]], int]


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """Where a replay is: quotes fed (of `total`), accepted by the engine, last quote time."""

    fed: int
    total: int
    accepted: int
    t: int | None
    wall_s: float


class Replay:
    """Drive `engine` (or `feed`) with the stored quotes of `symbols` in [start, end).

    speed: 0 (default) feeds as fast as possible; 1.0 is real time; 60.0 a minute a second.
    progress: True for a tqdm bar, or a callable receiving a ReplayProgress per fed slice.
    add_missing: declare symbols the engine does not know as default instruments.
    feed: called instead of `engine.feed_quotes` with slices (ids, ts, bids, asks); the ids
    are engine symbol ids, or positions in `symbols` when `engine` is None.
    clock/sleep: the wall clock, replaceable to run paced replays in tests.
    """

    def __init__(
        self,
        engine: Engine | None,
        con: duckdb.DuckDBPyConnection,
        symbols: Sequence[str],
        start: TimeLike = None,
        end: TimeLike = None,
        *,
        speed: float = 0.0,
        source: str | None = None,
        progress: bool | Callable[[ReplayProgress], None] = False,
        add_missing: bool = False,
        chunk_rows: int = CHUNK_ROWS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_sleep: float = 0.05,
        feed: QuoteFeed | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 means as fast as possible)")
        if feed is None:
            if engine is None:
                raise ValueError("give an engine, or a feed to send the quotes to")
            feed = engine.feed_quotes
        self.engine = engine
        self.feed = feed
        self.con = con
        self.symbols = list(symbols)
        self.start_t = start
        self.end_t = end
        self.speed = float(speed)
        self.source = source
        self.progress = progress
        self.chunk_rows = chunk_rows
        self.clock = clock
        self.sleep = sleep
        self.max_sleep = max_sleep
        self.lock = threading.Lock()
        self.fed = 0
        self.accepted = 0
        self.total = 0
        self.last_t: int | None = None
        self.error: BaseException | None = None
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wall0 = 0.0
        if engine is None:
            self.sids = list(range(len(self.symbols)))
            return
        for sym in self.symbols:
            if add_missing and sym not in engine.symbols:
                engine.add_instrument(Instrument(sym))
        self.sids = [engine.symbol_id(s) for s in self.symbols]

    # ------------------------------------------------------------- controls
    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def status(self) -> ReplayProgress:
        return ReplayProgress(
            self.fed, self.total, self.accepted, self.last_t, self.clock() - self._wall0
        )

    # -------------------------------------------------------------- running
    def start(self) -> threading.Thread:
        """Run in a background thread (reading through a cursor made here); see `join`."""
        if self._thread is not None:
            raise RuntimeError("this replay was started already")
        cur = self.con.cursor()

        def target() -> None:
            try:
                self._run(cur)
            except BaseException as e:  # re-raised by join()
                self.error = e
            finally:
                cur.close()

        self._thread = threading.Thread(target=target, name="replay", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> ReplayProgress:
        """Wait for a started replay; re-raises what stopped it with an error."""
        if self._thread is None:
            raise RuntimeError("this replay was not started")
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.status()

    def run(self) -> ReplayProgress:
        """Replay in the calling thread until the end of the data or `stop()`."""
        return self._run(self.con)

    def _run(self, con: duckdb.DuckDBPyConnection) -> ReplayProgress:
        self._wall0 = self.clock()
        self.total = count_quotes(con, self.symbols, self.start_t, self.end_t, source=self.source)
        bar = None
        report = self.progress if callable(self.progress) else None
        if self.progress is True:
            from tqdm import tqdm

            bar = tqdm(total=self.total, unit="quote", unit_scale=True, desc="replay")
        t0: int | None = None
        chunks = iter_quotes(
            con, self.symbols, self.start_t, self.end_t,
            sids=self.sids, source=self.source, chunk_rows=self.chunk_rows,
        )  # fmt: skip
        try:
            for chunk in chunks:
                if t0 is None:
                    t0 = int(chunk.t_array[0])
                    self._wall0 = self.clock()  # the pacing starts with the first quote
                n = len(chunk)
                i = 0
                while i < n and not self._stop.is_set():
                    self._wait_resumed()
                    j = self._due(chunk.t_array, i, t0)
                    if j <= i:
                        continue
                    whole = i == 0 and j == n
                    with self.lock:
                        self.accepted += self.feed(
                            chunk.sids if whole else chunk.sids[i:j],
                            chunk.ts if whole else chunk.ts[i:j],
                            chunk.bids if whole else chunk.bids[i:j],
                            chunk.asks if whole else chunk.asks[i:j],
                        )
                    self.fed += j - i
                    self.last_t = chunk.ts[j - 1]
                    i = j
                    if bar is not None:
                        bar.update(self.fed - bar.n)
                    if report is not None:
                        report(self.status())
                if self._stop.is_set():
                    break
        finally:
            chunks.close()  # ends the query now, not at garbage collection
            if bar is not None:
                bar.close()
        return self.status()

    def _due(self, ts: np.ndarray, i: int, t0: int) -> int:
        """End index of the quotes due now; sleeps (a little) and returns i when none is."""
        if self.speed == 0:
            return len(ts)
        elapsed = self.clock() - self._wall0
        due_t = t0 + elapsed * self.speed * 1e6
        j = int(np.searchsorted(ts, due_t, side="right"))
        if j > i:
            return j
        wait = (int(ts[i]) - t0) / (self.speed * 1e6) - elapsed
        self.sleep(min(max(wait, 0.0), self.max_sleep))
        return i

    def _wait_resumed(self) -> None:
        """Block while paused; paused time does not count as replay time."""
        if self._resume.is_set():
            return
        paused_at = self.clock()
        while not self._resume.wait(self.max_sleep):
            pass
        self._wall0 += self.clock() - paused_at
