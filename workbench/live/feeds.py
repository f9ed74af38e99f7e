"""The quote feeds of the live server, under one supervisor that never feeds two at once.

`FeedSupervisor(spec, sink, ...)` runs the feed named by `--feed` (see `feed_spec`):
- `backpack`: live Backpack quotes, recorded as they come, with simulated prices while
  Backpack is unreachable (`live_feed.LiveFeed`; states STARTING, LIVE, SIMULATED);
- `synthetic`: simulated prices only, no network (`synthetic_live`; state SIMULATED);
- `replay:...`: stored quotes from the tick store (`replay_feed`; state REPLAY).
Every quote reaches the sink through one funnel that counts it and keeps the last bids
(where simulated prices start). Each state change is one line through `say`;
`status()` tells the rest (public: never the simulation's seed, which would tell every
simulated price to come).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..domain import DEFAULT_INSTRUMENTS, Instrument
from ..feeds.backpack import DEFAULT_WS_URL
from ..feeds.backpack_client import now_us
from ..recorder.recorder import RecorderConfig
from ..store.schema import DEFAULT_DB
from .feed_spec import FeedSpec, parse_feed_spec
from .live_feed import LIVE, SIMULATED, STARTING, LiveFeed
from .replay_feed import ReplayFeed, iso
from .sink import QuoteSink, QuoteTuple
from .synthetic_live import LiveSynthetic

__all__ = [
    "LIVE", "REPLAY", "SIMULATED", "STARTING", "STOPPED",
    "FeedSpec", "FeedSupervisor", "parse_feed_spec",
]  # fmt: skip

log = logging.getLogger(__name__)

REPLAY, STOPPED = "REPLAY", "STOPPED"
DEFAULT_SYMBOLS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


class LoopTurns:
    """Gives an event loop its turn while a thread feeds as fast as it can.

    A full-speed replay keeps the engine's threads busy, and Python lets the event loop
    run only when it wins the GIL from them: pages and API calls waited seconds. The
    feeding thread calls `take()` after each batch; at most every `every` seconds it
    queues a no-op on the loop and waits until the loop has run it, so everything the
    loop had ready before then ran (the engine meanwhile works off what is queued,
    at most `max_backlog` quotes). An idle loop answers within a GIL switch; a busy one
    holds the feed back until it has caught up. Safe to call from any thread but the
    loop's own.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, stopped: Callable[[], bool],
        every: float = 0.02,
    ) -> None:  # fmt: skip
        self.loop = loop
        self.stopped = stopped
        self.every = every
        self.turns = 0
        self.waited = 0.0  # seconds the feeding thread waited for the loop
        self._last = time.monotonic()

    def take(self) -> None:
        """Wait for the loop's turn if `every` seconds passed since the last one."""
        began = time.monotonic()
        if began - self._last < self.every:
            return
        done = threading.Event()
        try:
            self.loop.call_soon_threadsafe(done.set)
        except RuntimeError:  # the loop is closed: nobody to wait for
            return
        while not done.wait(0.05):
            if self.stopped() or self.loop.is_closed():
                break
        self._last = time.monotonic()
        self.turns += 1
        self.waited += self._last - began


class FeedSupervisor:
    """Feeds `sink` from the feed `spec` until `stop()`; see the module docstring.

    A bad spec, bad options or a replay without stored quotes raise ValueError here,
    before anything runs. `recorder_options` are extra `RecorderConfig` fields (backoff,
    pings, `parquet_dir`: by default a `parquet` folder beside `db_path`). `start_bids`
    (symbol -> bid in 1e-8 units, e.g. the engine's last prices) is where simulated
    prices start before any quote was fed; afterwards they go on from the last one fed.
    """

    def __init__(
        self,
        spec: FeedSpec | str,
        sink: QuoteSink,
        *,
        db_path: str | Path = DEFAULT_DB,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        say: Callable[[str], object] = print,
        url: str = DEFAULT_WS_URL,
        fallback_after: float = 5.0,
        seed: int | None = None,
        speed: float = 1.0,
        start_bids: Mapping[str, int] | None = None,
        recorder_options: Mapping[str, Any] | None = None,
        max_backlog: int = 20_000,
        replay_delay: float = 0.0,
    ) -> None:
        self.spec = parse_feed_spec(spec) if isinstance(spec, str) else spec
        if fallback_after <= 0:
            raise ValueError("fallback_after must be a positive number of seconds")
        self.sink, self._say, self.url = sink, say, url
        self.replay_delay = replay_delay
        self.replay: ReplayFeed | None = None
        self.live: LiveFeed | None = None
        kind = self.spec.kind
        if kind == "replay":
            self.replay = ReplayFeed(db_path, self.spec, speed=speed, max_backlog=max_backlog)
            self.symbols = self.spec.symbols
        else:
            self.symbols = tuple(symbols)
            backpack = None
            if kind == "backpack":
                options = {"parquet_dir": Path(db_path).parent / "parquet"}
                options.update(recorder_options or {})
                backpack = RecorderConfig(
                    symbols=self.symbols, db_path=db_path, url=url, status_every=None, **options
                )
            synthetic = LiveSynthetic(self.symbols, seed=seed)
            self.live = LiveFeed(self, synthetic, backpack, fallback_after=fallback_after)
        self._state, self._source = STARTING, kind
        self._since_us = now_us()
        self._message = "not started"
        self._fed = 0
        self._sink_errors = 0
        self._last_mono: float | None = None
        self._bids: dict[str, int] = dict(start_bids or {})
        self._max_t = 0
        self._started = False
        self._stop_evt = asyncio.Event()
        self._done = asyncio.Event()
        self.turns: LoopTurns | None = None  # a replay's turns given to the event loop

    # ------------------------------------------------------------------ what users see
    def status(self) -> dict[str, Any]:
        """The feed's state as a JSON-able dict; `connected` is about Backpack."""
        age = None if self._last_mono is None else round(time.monotonic() - self._last_mono, 3)
        out: dict[str, Any] = {
            "state": self._state, "source": self._source, "mode": str(self.spec),
            "connected": self.live is not None and self.live.connected,
            "since_us": self._since_us, "last_quote_age_s": age, "message": self._message,
            "symbols": list(self.symbols), "quotes": self._fed,
        }  # fmt: skip
        if self.spec.kind == "backpack":
            out["url"] = self.url
        if self.replay is not None:
            out.update(self.replay.progress())
        return out

    def clock_us(self) -> int:
        """The time to stamp commands with: the replay's time (its last quote), else the
        wall clock in µs, never behind a quote already fed."""
        if self.replay is not None:
            return self.replay.clock_us()
        return max(now_us(), self._max_t)

    # ------------------------------------------------------------------ FeedOutput
    @property
    def state(self) -> str:
        """LIVE, SIMULATED, REPLAY, STARTING or STOPPED."""
        return self._state

    @property
    def bids(self) -> Mapping[str, int]:
        """The last bid fed per symbol (1e-8 units), or the start bids given."""
        return self._bids

    @property
    def max_t(self) -> int:
        """The latest quote time fed (µs), 0 before any."""
        return self._max_t

    def set_state(self, state: str, source: str, message: str, announce: str | None = None) -> None:
        """Record a state and status message; `announce` goes to the console (one line)."""
        if state != self._state or source != self._source:
            self._since_us = now_us()
        self._state, self._source, self._message = state, source, message
        if announce:
            log.info("%s", announce)
            try:
                self._say(announce)
            except Exception:
                log.exception("could not say %r", announce)

    def put(self, quotes: list[QuoteTuple]) -> None:
        """The one way to the sink: counts the quotes, keeps the last bids and latest time."""
        try:
            self.sink.put_quotes(quotes)
        except Exception:
            self._sink_errors += 1
            if self._sink_errors <= 3 or self._sink_errors % 1000 == 0:
                log.exception("the quote sink refused quotes (%d times)", self._sink_errors)
            return
        self._fed += len(quotes)
        bids = self._bids
        if len(quotes) > 16:  # a replay's batch: the last bid of each symbol, from the end
            self._max_t = max(self._max_t, max(map(itemgetter(1), quotes)))
            seen: set[str] = set()
            for sym, _t, bid, _ask in reversed(quotes):
                if sym not in seen:
                    seen.add(sym)
                    bids[sym] = bid
                    if len(seen) == len(self.symbols):
                        break
        else:
            hi = self._max_t
            for sym, t, bid, _ask in quotes:
                bids[sym] = bid
                if t > hi:
                    hi = t
            self._max_t = hi
        self._last_mono = time.monotonic()

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Feed until `stop()`. Never raises: errors are logged and shown in the status."""
        if self._started:
            log.warning("FeedSupervisor.run called twice; ignored")
            return
        self._started = True
        try:
            await self._declare()
            if self.live is not None:
                await self.live.run()
            else:
                await self._run_replay()
            await self._stop_evt.wait()
        except Exception as exc:
            log.exception("the quote feed failed")
            self.set_state(self._state, self._source, f"feed failed: {exc}", f"Feed failed: {exc}")
            await self._stop_evt.wait()
        finally:
            if self.live is not None:
                self.live.stop()
            if self.replay is not None:
                self.replay.stop()
            self.set_state(STOPPED, self._source, "stopped", "Feed stopped")
            self._done.set()

    async def stop(self) -> None:
        """Stop feeding; returns once the feed (and the recorder's last commit) is done."""
        self._stop_evt.set()
        if self.live is not None:
            self.live.stop()
        if self.replay is not None:
            self.replay.stop()
        if self._started:
            await self._done.wait()
        else:
            self.set_state(STOPPED, self._source, "stopped")

    async def _declare(self) -> None:
        """Tell the engine about the symbols it does not have by default."""
        if self.replay is not None:
            instruments = self.replay.instruments()
        else:
            known = {i.symbol for i in DEFAULT_INSTRUMENTS}
            instruments = [Instrument(s) for s in self.symbols if s not in known]
        if not instruments:
            return
        try:
            await asyncio.to_thread(self.sink.declare_instruments, instruments)
        except Exception as exc:
            log.exception("declaring instruments failed")
            names = ", ".join(i.symbol for i in instruments)
            self.set_state(self._state, self._source, f"could not declare {names}: {exc}")

    async def _run_replay(self) -> None:
        rp = self.replay
        assert rp is not None
        lo = iso(rp.spec.start_us if rp.spec.start_us is not None else rp.first_t)
        hi = iso(rp.spec.end_us) if rp.spec.end_us is not None else "the end"
        pace = "as fast as possible" if rp.speed == 0 else f"at {rp.speed:g}x"
        missing = f" (none stored for {', '.join(rp.missing)})" if rp.missing else ""
        if self.replay_delay > 0:
            self.set_state(REPLAY, "replay", f"replay starts in {self.replay_delay:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_evt.wait(), self.replay_delay)
            if self._stop_evt.is_set():
                return
        self.set_state(
            REPLAY, "replay", "replaying",
            f"Feed: REPLAY of {rp.total} stored quotes of {', '.join(rp.symbols)} "
            f"from {lo} to {hi} {pace}{missing}",
        )  # fmt: skip
        self.turns = LoopTurns(asyncio.get_running_loop(), self._stop_evt.is_set)
        try:
            await asyncio.to_thread(rp.run, self.put, self.sink.backlog, self.turns.take)
        except Exception as exc:
            log.exception("the replay failed")
            self.set_state(REPLAY, "replay", f"replay failed: {exc}", f"Replay failed: {exc}")
            return
        if rp.finished:
            self.set_state(
                REPLAY, "replay", "replay finished",
                f"Replay finished: {rp.fed} quotes fed, up to {iso(rp.clock_us())}",
            )  # fmt: skip
