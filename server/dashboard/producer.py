"""The one producer: engine updates pushed to every open dashboard session.

The sequencer's commit thread hands each durable batch (events, quotes) to `collect`,
which moves it onto the event loop. There the producer keeps, once for all sessions, the
last quote and the candles of every symbol and each account's new events. A flush sends
what changed to each registered session with `doc.add_next_tick_callback` (the only way
to touch a Bokeh document from outside its own callbacks), at most every `interval`
seconds; account figures (live uPnL) are read from the engine in ONE read for all the
accounts on screen, never by a session polling the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from workbench.live.sink import QuoteTuple

log = logging.getLogger(__name__)

Event = dict[str, Any]
SCALE = 1e-8  # quote ints to floats, for plots only

#: Candle frames kept for the charts: name -> seconds.
FRAMES = {"1s": 1, "1m": 60}
KEEP_CANDLES = 600


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


class Producer:
    """Collects engine output and pushes it to every registered session."""

    def __init__(
        self,
        read_accounts: Callable[[list[str]], Awaitable[dict[str, Any]]],
        feed_status: Callable[[], dict[str, Any]],
        *,
        interval: float = 0.05,
        account_every: float = 0.25,
    ) -> None:
        self.read_accounts = read_accounts
        self.feed_status = feed_status
        self.interval = interval
        self.account_every = account_every
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sessions: set[Session] = set()
        self.last: dict[str, QuoteTuple] = {}
        self.candles: dict[tuple[str, str], Candles] = {}
        self._changed: set[str] = set()
        self._events: dict[str, list[Event]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_account_read = 0.0
        self.flushes = 0
        self.pushes = 0

    # ------------------------------------------------------ from the engine
    def collect(self, events: list[Event], quotes: list[QuoteTuple]) -> None:
        """Called on the commit thread after each durable batch: never blocks."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._take, events, quotes)

    def _take(self, events: list[Event], quotes: list[QuoteTuple]) -> None:
        # One pass over the quotes keeps the last of each symbol and the open, high, low
        # and close of each (symbol, second) as ints; the candles are then updated once
        # per second seen, not once per quote (at a full-speed replay this runs 300k/s).
        last = self.last
        seconds: dict[tuple[str, int], list[int]] = {}
        for q in quotes:
            sym, t, bid, ask = q
            prev = last.get(sym)
            if prev is not None and t < prev[1]:
                continue
            last[sym] = q
            m = bid + ask
            key = (sym, t // 1_000_000)
            b = seconds.get(key)
            if b is None:
                seconds[key] = [m, m, m, m]
            else:
                if m > b[1]:
                    b[1] = m
                elif m < b[2]:
                    b[2] = m
                b[3] = m
        half = SCALE / 2
        for (sym, sec), (o, h, lo, c) in seconds.items():
            self._changed.add(sym)
            for frame, frame_s in FRAMES.items():
                cs = self.candles.get((sym, frame))
                if cs is None:
                    cs = self.candles[(sym, frame)] = Candles(frame_s)
                cs.merge(sec * 1_000_000, o * half, h * half, lo * half, c * half)
        if self.sessions:
            watched = {s.account for s in self.sessions}
            for ev in events:
                acc = ev.get("account")
                if acc in watched:
                    self._events.setdefault(acc, []).append(ev)  # type: ignore[arg-type]
        self._wake.set()

    # --------------------------------------------------------------- sessions
    def register(self, session: Session) -> None:
        self.sessions.add(session)
        self._wake.set()

    def unregister(self, session: Session) -> None:
        self.sessions.discard(session)

    def history(self, symbol: str, frame: str) -> dict[str, list[Any]]:
        """The candles kept so far, to seed a new chart."""
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
            wait = self.interval - (time.monotonic() - last)
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
        changed, self._changed = self._changed, set()
        events, self._events = self._events, {}
        if not self.sessions:
            return
        now = time.monotonic()
        accounts: dict[str, Any] = {}
        wanted = sorted({s.account for s in self.sessions if s.account is not None})
        if wanted and (events or now - self._last_account_read >= self.account_every):
            self._last_account_read = now
            accounts = await self.read_accounts(wanted)
        quotes = {s: self.last[s] for s in changed}
        candles = {
            key: cs.tail(2) for key, cs in self.candles.items() if key[0] in changed
        }  # fmt: skip
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
                self.sessions.discard(session)
