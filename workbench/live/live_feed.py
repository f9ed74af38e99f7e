"""Live prices for the server: Backpack through the recorder, simulated when it is away.

`LiveFeed` serves one source at a time. With a `RecorderConfig` it runs the `Recorder`
(so every served quote is also recorded) and passes each new bookTicker on at its
exchange time T. When Backpack cannot be reached (a failed connect, or no quote within
`fallback_after` seconds of the start or of a disconnect) it starts `LiveSynthetic`
(state SIMULATED) while the recorder keeps retrying, and at the first real quote it
stops the simulation before passing that quote on. Without a config it only simulates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Protocol

from ..feeds.backpack import BookTicker
from ..feeds.backpack_client import Connected, ConnectFailed, Disconnected, FeedEvent, now_us
from ..money import BadNumber, price_units
from ..recorder.recorder import Recorder, RecorderConfig
from .sink import QuoteTuple
from .synthetic_live import LiveSynthetic

log = logging.getLogger(__name__)

STARTING, LIVE, SIMULATED = "STARTING", "LIVE", "SIMULATED"
LIVE_MESSAGE = "live Backpack prices"
#: Seconds before a recorder that failed (say, its database is locked) is started again.
RECORDER_RETRY_S = 5.0


class FeedOutput(Protocol):
    """What a live feed writes to (the supervisor): quotes, and its state for users."""

    @property
    def state(self) -> str: ...

    @property
    def bids(self) -> Mapping[str, int]:
        """The last bid fed per symbol (1e-8 units)."""
        ...

    @property
    def max_t(self) -> int:
        """The latest quote time fed, µs (0 before any)."""
        ...

    def put(self, quotes: list[QuoteTuple]) -> None: ...

    def set_state(
        self, state: str, source: str, message: str, announce: str | None = None
    ) -> None: ...


class LiveFeed:
    """Backpack with a simulated fallback, or simulated prices only; see the module docstring."""

    def __init__(
        self,
        out: FeedOutput,
        synthetic: LiveSynthetic,
        backpack: RecorderConfig | None,
        *,
        fallback_after: float = 5.0,
    ) -> None:
        self.out, self.synthetic, self.backpack = out, synthetic, backpack
        self.fallback_after = fallback_after
        self.connected = False
        self.message = "not started"
        self._simulating = False
        self._stopping = False
        self._stop_evt = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._recorder: Recorder | None = None
        self._synthetic_task: asyncio.Task[None] | None = None

    def _set(self, state: str, source: str, message: str, announce: str | None = None) -> None:
        self.message = message
        self.out.set_state(state, source, message, announce)

    def _note(self, message: str) -> None:
        """A new status message without a change of state."""
        self._set(self.out.state, "synthetic" if self._simulating else "backpack", message)

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Serve prices until `stop()`."""
        names = ", ".join(self.synthetic.symbols)
        try:
            if self.backpack is None:
                self._set(
                    SIMULATED, "synthetic", "simulated prices (synthetic feed, no network)",
                    f"Feed: SIMULATED prices for {names} (synthetic, no network)",
                )  # fmt: skip
                self._start_synthetic()
                await self._stop_evt.wait()
            else:
                url = self.backpack.url
                self._set(
                    STARTING, "backpack", f"connecting to Backpack at {url}",
                    f"Feed: connecting to Backpack at {url} for {names}",
                )  # fmt: skip
                await self._run_recorder(self.backpack)
        finally:
            self._disarm()
            task = self._stop_synthetic()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.connected = False

    def stop(self) -> None:
        """Stop serving now; `run()` returns once the recorder has committed."""
        self._stopping = True
        self._stop_evt.set()
        self._disarm()
        self._stop_synthetic()
        if self._recorder is not None:
            self._recorder.stop()

    async def _run_recorder(self, config: RecorderConfig) -> None:
        self._arm("the start")
        failures = 0
        while not self._stopping:
            rec = Recorder(config, on_quote=self._on_quote, tap=self._on_event)
            self._recorder = rec
            try:
                await rec.run_async()
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.exception("the Backpack recorder failed")
                else:
                    log.warning("the Backpack recorder failed again (%d): %s", failures, exc)
                self._fall_back(f"recorder failed: {exc}", "Backpack feed unavailable")
            finally:
                self._recorder = None
                self.connected = False
            if not self._stopping:
                self._fall_back("the recorder stopped", "Backpack feed unavailable")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_evt.wait(), RECORDER_RETRY_S)

    # ------------------------------------------------------------------ simulated prices
    def _start_synthetic(self) -> None:
        self._simulating = True
        self._synthetic_task = asyncio.create_task(self._synthetic_loop())

    def _stop_synthetic(self) -> asyncio.Task[None] | None:
        """Stop simulated prices at once: none of theirs goes out after this."""
        self._simulating = False
        task, self._synthetic_task = self._synthetic_task, None
        if task is not None:
            task.cancel()
        return task

    def _emit(self, quotes: list[QuoteTuple]) -> bool:
        if not self._simulating or self._stopping:
            return False
        self.out.put(quotes)
        return True

    async def _synthetic_loop(self) -> None:
        while self._simulating and not self._stopping:
            try:
                start = max(now_us(), self.out.max_t + 1)
                await self.synthetic.run(self._emit, self.out.bids, start)
                return
            except Exception:
                log.exception("the synthetic feed failed; restarting it")
                await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ switching
    def _arm(self, after: str) -> None:
        """Fall back to simulated prices unless a live quote comes within `fallback_after`."""
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.fallback_after, self._timed_out, after)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self, after: str) -> None:
        self._timer = None
        what = "no quote" if self.connected else "no connection"
        self._fall_back(f"{what} within {self.fallback_after:g}s of {after}")

    def _fall_back(self, reason: str, lead: str = "Backpack unreachable") -> None:
        if self._simulating or self._stopping:
            return
        self._disarm()
        self._set(
            SIMULATED, "synthetic",
            f"{lead} ({reason}); simulated prices until it returns",
            f"{lead} ({reason}): serving SIMULATED prices until it returns",
        )  # fmt: skip
        self._start_synthetic()

    def _on_event(self, event: FeedEvent) -> None:
        """Connection events from the recorder."""
        if self._stopping:
            return
        match event:
            case Connected():
                self.connected = True
                meanwhile = "; simulated prices meanwhile" if self._simulating else ""
                self._note(f"connected to Backpack, waiting for a quote{meanwhile}")
            case ConnectFailed(reason=reason):
                self.connected = False
                if self._simulating:
                    self._note(f"Backpack unreachable ({reason}); simulated prices for now")
                else:
                    self._fall_back(reason)
            case Disconnected(reason=reason):
                self.connected = False
                if not self._simulating:
                    self._note(f"Backpack disconnected ({reason}); reconnecting")
                    self._arm(f"a disconnect ({reason})")

    def _on_quote(self, quote: BookTicker, recv_us: int) -> None:
        """A new live quote: to the sink at its exchange time T (ending any simulation)."""
        if self._stopping:
            return
        try:
            bid, ask = price_units(quote.bid, "bid"), price_units(quote.ask, "ask")
        except BadNumber as exc:
            log.warning("live quote skipped: %s", exc)
            return
        self._disarm()
        self.connected = True
        if self.out.state == LIVE:
            if self.message != LIVE_MESSAGE:
                self._note(LIVE_MESSAGE)
        else:
            back = self._simulating
            self._stop_synthetic()
            names = ", ".join(self.synthetic.symbols)
            self._set(
                LIVE, "backpack", LIVE_MESSAGE,
                "Backpack is back: serving LIVE prices again" if back
                else f"Feed: LIVE prices from Backpack for {names}",
            )  # fmt: skip
        self.out.put([(quote.symbol, quote.t, bid, ask)])
