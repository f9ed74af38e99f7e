"""The one producer: engine updates pushed to every open dashboard session.

The sequencer's commit thread hands each durable batch (events, quotes) to `collect`,
which folds it right there, once for all sessions: the last quote and the candles of
every symbol (numpy over the quote columns, so a full-speed replay costs little) and each
watched account's new events. Nothing per batch goes to the event loop: at most one
wake-up is on its way at a time, and a flush, at most every `interval` seconds, sends
what changed to each registered session with `doc.add_next_tick_callback` (the only way
to touch a Bokeh document from outside its own callbacks). Account figures (live uPnL)
are read from the engine in ONE read for all the accounts on screen, never by a session
polling the engine. While quotes come faster than anyone reads them (a replay at full
speed), pushes go out every `fast_interval` seconds instead: each costs the event loop
(and so the engine's threads, which share the GIL with it) a Bokeh update per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np

from workbench.live.sink import QuoteColumns, QuoteTuple

log = logging.getLogger(__name__)

Event = dict[str, Any]
SCALE = 1e-8  # quote ints to floats, for plots only

#: Candle frames kept for the charts: name -> seconds.
FRAMES = {"1s": 1, "1m": 60}
KEEP_CANDLES = 600
#: Quotes a second above which a feed is "fast" (a live feed brings about 30).
FAST_FEED = 2_000
#: Up to this many quotes (or seconds) are folded in plain Python: numpy costs ~20 µs a call.
SMALL = 32


@dataclass
class Candles:
    """The recent candles of one symbol in one frame (floats: they are only plotted)."""

    seconds: int
    t: list[int] = field(default_factory=list)  # candle start, ms
    o: list[float] = field(default_factory=list)
    h: list[float] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    c: list[float] = field(default_factory=list)

    def add(self, t_us: int, mid: float) -> None:
        self.merge(t_us, mid, mid, mid, mid)

    def merge(self, t_us: int, o: float, h: float, lo: float, c: float) -> None:
        """Prices seen from `t_us` on (open, high, low, close) into the candle of `t_us`."""
        start = t_us // 1_000_000 // self.seconds * self.seconds * 1000
        if self.t and self.t[-1] == start:
            self.h[-1] = max(self.h[-1], h)
            self.lo[-1] = min(self.lo[-1], lo)
            self.c[-1] = c
            return
        if self.t and start < self.t[-1]:
            return  # older than the open candle: the engine ignores such quotes too
        for col, v in ((self.t, start), (self.o, o), (self.h, h), (self.lo, lo), (self.c, c)):
            col.append(v)  # type: ignore[arg-type]
            if len(col) > KEEP_CANDLES:
                del col[0]

    def merge_groups(self, start_s: Any, o: Any, h: Any, lo: Any, c: Any) -> None:
        """Per-second (open, high, low, close) groups in time order (`start_s` in whole
        seconds; lists or numpy arrays) merged at once: the same candles as one `merge`
        each, in numpy."""
        if len(start_s) <= SMALL:
            cols = [x.tolist() if isinstance(x, np.ndarray) else x for x in (start_s, o, h, lo, c)]
            for sec, *ohlc in zip(*cols, strict=True):
                self.merge(sec * 1_000_000, *ohlc)
            return
        starts = np.asarray(start_s, dtype=np.int64) // self.seconds * (self.seconds * 1000)
        cut = np.flatnonzero(np.diff(starts)) + 1
        first = np.concatenate(([0], cut))
        last = np.concatenate((cut, [len(starts)])) - 1
        t = starts[first].tolist()
        new = (
            np.asarray(o)[first].tolist(), np.maximum.reduceat(np.asarray(h), first).tolist(),
            np.minimum.reduceat(np.asarray(lo), first).tolist(), np.asarray(c)[last].tolist(),
        )  # fmt: skip
        k = 0
        while k < len(t) and self.t and t[k] <= self.t[-1]:  # the open candle, or older
            self.merge(t[k] * 1000, new[0][k], new[1][k], new[2][k], new[3][k])
            k += 1
        for col, values in zip((self.t, self.o, self.h, self.lo, self.c), (t, *new), strict=True):
            col += values[k:]  # type: ignore[operator]
            if len(col) > KEEP_CANDLES:
                del col[: len(col) - KEEP_CANDLES]

    def add_many(self, t_us: Any, mid: Any) -> None:
        """Many quotes at once (numpy arrays in time order): one merge per candle."""
        import numpy as np

        if len(t_us) == 0:
            return
        start = t_us // 1_000_000 // self.seconds
        cut = np.flatnonzero(np.diff(start)) + 1
        idx = np.concatenate(([0], cut))
        highs = np.maximum.reduceat(mid, idx).tolist()
        lows = np.minimum.reduceat(mid, idx).tolist()
        ends = (np.concatenate((cut, [len(mid)])) - 1).tolist()
        for k, i in enumerate(idx.tolist()):
            self.merge(int(t_us[i]), float(mid[i]), highs[k], lows[k], float(mid[ends[k]]))

    def tail(self, n: int | None = None) -> dict[str, list[Any]]:
        s = slice(-n, None) if n else slice(None)
        return {"t": self.t[s], "open": self.o[s], "high": self.h[s], "low": self.lo[s],
                "close": self.c[s]}  # fmt: skip


@dataclass
class Push:
    """What one flush brings a session (each part only if it changed)."""

    quotes: dict[str, QuoteTuple]  # symbol -> last quote
    candles: dict[tuple[str, str], dict[str, list[Any]]]  # (symbol, frame) -> last 2
    events: list[Event]  # the session account's own events
    account: tuple[dict[str, Any], list[dict[str, Any]]] | None  # (figures, positions)
    feed: dict[str, Any]
    sent_at: float  # time.monotonic() of the flush


class Session(Protocol):
    """A registered dashboard session (see pages)."""

    doc: Any
    account: str | None

    def apply(self, push: Push) -> None: ...


#: symbol -> (its last quote, and per second: start (s), open, high, low, close as ints,
#: in lists or numpy arrays)
Seconds = dict[str, tuple[QuoteTuple, Any, Any, Any, Any, Any]]


def fold(quotes: Sequence[QuoteTuple], last_t: dict[str, int]) -> Seconds:
    """Per symbol: its last quote and the mid's (open, high, low, close) of each second, as
    ints (bid + ask), skipping quotes older than the symbol's last (`last_t`, or earlier in
    the batch), as the engine does: symbol -> (last, seconds, opens, highs, lows, closes)."""
    if isinstance(quotes, QuoteColumns) and len(quotes) > SMALL:
        return _fold_columns(quotes, last_t)
    out: dict[str, list[Any]] = {}
    for q in quotes:
        sym, t, bid, ask = q
        f = out.get(sym)
        if f is None:
            if t < last_t.get(sym, t):
                continue
            m = bid + ask
            out[sym] = [q, [t // 1_000_000], [m], [m], [m], [m]]
            continue
        if t < f[0][1]:
            continue
        f[0] = q
        m = bid + ask
        sec = t // 1_000_000
        if sec != f[1][-1]:
            f[1].append(sec)
            f[2].append(m)
            f[3].append(m)
            f[4].append(m)
            f[5].append(m)
        else:
            if m > f[3][-1]:
                f[3][-1] = m
            elif m < f[4][-1]:
                f[4][-1] = m
            f[5][-1] = m
    return {sym: tuple(f) for sym, f in out.items()}  # type: ignore[misc]


def _fold_columns(q: QuoteColumns, last_t: dict[str, int]) -> Seconds:
    # symbol ids fit a byte (as many instruments as that is plenty): bytes() is 3x faster
    sids = (np.frombuffer(bytes(q.sids), np.uint8) if len(q.names) <= 256
            else np.asarray(q.sids, dtype=np.int64))  # fmt: skip
    ts = np.asarray(q.ts, dtype=np.int64)
    mids = np.asarray(q.bids, dtype=np.int64) + np.asarray(q.asks, dtype=np.int64)
    out: Seconds = {}
    for sid in np.flatnonzero(np.bincount(sids)).tolist():
        sym = q.names[sid]
        idx = np.flatnonzero(sids == sid)
        t = ts[idx]
        keep = t >= np.maximum.accumulate(t)  # not older than a quote before it
        prev = last_t.get(sym)
        if prev is not None:
            keep &= t >= prev
        if not keep.all():
            idx, t = idx[keep], t[keep]
            if not len(idx):
                continue
        m = mids[idx]
        sec = t // 1_000_000
        cut = np.flatnonzero(np.diff(sec)) + 1
        first = np.concatenate(([0], cut))
        last = np.concatenate((cut, [len(sec)])) - 1
        i = int(idx[-1])
        out[sym] = (
            (sym, q.ts[i], q.bids[i], q.asks[i]), sec[first], m[first],
            np.maximum.reduceat(m, first), np.minimum.reduceat(m, first), m[last],
        )  # fmt: skip
    return out


class Producer:
    """Collects engine output and pushes it to every registered session."""

    def __init__(
        self,
        read_accounts: Callable[[list[str]], Awaitable[dict[str, Any]]],
        feed_status: Callable[[], dict[str, Any]],
        *,
        interval: float = 0.05,
        account_every: float = 0.25,
        fast_interval: float = 0.5,
    ) -> None:
        self.read_accounts = read_accounts
        self.feed_status = feed_status
        self.interval = interval
        self.account_every = account_every
        self.fast_interval = fast_interval
        self.fast = False  # quotes came faster than FAST_FEED a second at the last flush
        self._folded = 0  # quotes folded since the last flush
        self._flushed_at = time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sessions: set[Session] = set()
        self.last: dict[str, QuoteTuple] = {}
        self.candles: dict[tuple[str, str], Candles] = {}
        self._lock = threading.Lock()  # the commit thread folds, the loop reads
        self._changed: set[str] = set()
        self._events: dict[str, list[Event]] = {}
        self._wake = asyncio.Event()
        self._waking = False  # a wake-up is on its way to the loop
        self._task: asyncio.Task[None] | None = None
        self._last_account_read = 0.0
        self.flushes = 0
        self.pushes = 0

    # ------------------------------------------------------ from the engine
    def collect(self, events: list[Event], quotes: Sequence[QuoteTuple]) -> None:
        """Called on the commit thread after each durable batch: folds it, never blocks."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        self._take(events, quotes)
        if self.sessions and not self._waking and (self._changed or self._events):
            self._waking = True
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._woken)

    def _woken(self) -> None:
        self._waking = False
        self._wake.set()

    def _take(self, events: list[Event], quotes: Sequence[QuoteTuple]) -> None:
        """Fold a durable batch in (any thread): last quotes, candles, watched events."""
        last = self.last
        folded = fold(quotes, {s: q[1] for s, q in last.items()}) if quotes else {}
        half = SCALE / 2
        watched = self._accounts() if events else frozenset()
        with self._lock:
            self._folded += len(quotes)
            for sym, (q, secs, o, h, lo, c) in folded.items():
                if sym not in last:
                    self.last = last = {**last, sym: q}  # no dict grows under a reader
                else:
                    last[sym] = q
                self._changed.add(sym)
                fo, fh, fl, fc = (
                    col * half if isinstance(col, np.ndarray) else [x * half for x in col]
                    for col in (o, h, lo, c)
                )  # fmt: skip
                for frame, frame_s in FRAMES.items():
                    cs = self.candles.get((sym, frame))
                    if cs is None:
                        cs = self.candles[(sym, frame)] = Candles(frame_s)
                    cs.merge_groups(secs, fo, fh, fl, fc)
            if watched:
                for ev in events:
                    acc = ev.get("account")
                    if acc in watched:
                        self._events.setdefault(acc, []).append(ev)  # type: ignore[arg-type]

    # --------------------------------------------------------------- sessions
    def register(self, session: Session) -> None:
        self.sessions = {*self.sessions, session}  # a new set: the commit thread reads it
        self._wake.set()

    def unregister(self, session: Session) -> None:
        self.sessions = self.sessions - {session}

    def _accounts(self) -> frozenset[str]:
        """The accounts on screen now (any thread). Read each time, never cached: a page
        registers before its user logs in, and may log out or in as another."""
        return frozenset(s.account for s in self.sessions if s.account is not None)

    def history(self, symbol: str, frame: str) -> dict[str, list[Any]]:
        """The candles kept so far, to seed a new chart."""
        with self._lock:
            cs = self.candles.get((symbol, frame))
            return cs.tail() if cs else Candles(FRAMES[frame]).tail()

    # ------------------------------------------------------------------ loop
    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="dashboard-producer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.loop = None

    async def _run(self) -> None:
        last = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.account_every)
            self._wake.clear()
            wait = (self.fast_interval if self.fast else self.interval) - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            last = time.monotonic()
            try:
                await self.flush()
            except Exception:  # a broken session must not stop the pushes to the others
                log.exception("dashboard push failed")

    async def flush(self) -> None:
        """Send what changed since the last flush to every session."""
        self.flushes += 1
        now = time.monotonic()
        with self._lock:
            folded, self._folded = self._folded, 0
            self.fast = folded > FAST_FEED * (now - self._flushed_at)
            self._flushed_at = now
            changed, self._changed = self._changed, set()
            events, self._events = self._events, {}
            if not self.sessions:
                return
            quotes = {s: self.last[s] for s in changed}
            candles = {
                key: cs.tail(2) for key, cs in self.candles.items() if key[0] in changed
            }  # fmt: skip
        accounts: dict[str, Any] = {}
        wanted = sorted(self._accounts())
        if wanted and (events or now - self._last_account_read >= self.account_every):
            self._last_account_read = now
            accounts = await self.read_accounts(wanted)
        feed = self.feed_status()
        for session in tuple(self.sessions):
            acc = session.account
            push = Push(
                quotes, candles, events.get(acc, []) if acc else [],
                accounts.get(acc) if acc else None, feed, time.monotonic(),
            )  # fmt: skip
            if not (quotes or push.events or push.account):
                continue
            doc = session.doc
            try:
                doc.add_next_tick_callback(partial(session.apply, push))
                self.pushes += 1
            except Exception:  # the document is gone: the session ended
                self.unregister(session)
            # one session's update per loop turn: a Bokeh update can take tens of ms, and
            # requests waiting meanwhile are served between them, not after all of them
            await asyncio.sleep(0)
