"""How late the event loop runs: a task that wakes every `interval` and records the delay.

Everything the server answers (API, WebSocket, dashboards) runs on one event loop, and
the engine's threads share the GIL with it, so a loop that is kept waiting shows up
here first. `LoopLag.start()` runs the watch on the current loop; `summary()` gives, for
`/health`, the p50, p99 and max of the delays (ms) over the last `window` seconds, and
the count of wake-ups since the start and of those later than 50, 100, 250 and 1000 ms
(read twice, they give the share of late wake-ups in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

#: Thresholds (ms) of the late wake-ups counted since the start.
LATE_MS = (50, 100, 250, 1000)


class LoopLag:
    """The event loop's wake-up delays over a sliding window; see the module docstring."""

    def __init__(self, interval: float = 0.1, window: float = 60.0) -> None:
        if not 0 < interval < window:
            raise ValueError("need 0 < interval < window")
        self.interval = interval
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()  # (monotonic time, delay s)
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.late = dict.fromkeys(LATE_MS, 0)

    def start(self) -> None:
        """Start watching the running loop (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        interval = self.interval
        while True:
            before = time.monotonic()
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.record(now, max(0.0, now - before - interval))

    def record(self, now: float, delay: float) -> None:
        """One wake-up `delay` seconds late, seen at monotonic time `now`."""
        samples = self._samples
        samples.append((now, delay))
        self.ticks += 1
        for ms in LATE_MS:
            if delay * 1000 > ms:
                self.late[ms] += 1
        cutoff = now - self.window
        while samples and samples[0][0] < cutoff:
            samples.popleft()

    def summary(self) -> dict[str, Any]:
        """`{p50_ms, p99_ms, max_ms, samples, window_s, interval_ms}` over the window (the
        delays so far when the window is not full; None with no sample yet), and since the
        start `ticks` and `late` ({"over_50": n, ...}: wake-ups later than that many ms)."""
        now = time.monotonic()
        delays = sorted(d for t, d in self._samples if t >= now - self.window)
        n = len(delays)

        def in_ms(x: float | None) -> float | None:
            return None if x is None else round(x * 1000, 1)

        return {
            "p50_ms": in_ms(delays[n // 2] if n else None),
            "p99_ms": in_ms(delays[min(n - 1, int(n * 0.99))] if n else None),
            "max_ms": in_ms(delays[-1] if n else None),
            "samples": n,
            "window_s": self.window,
            "interval_ms": round(self.interval * 1000, 1),
            "ticks": self.ticks,
            "late": {f"over_{limit}": count for limit, count in self.late.items()},
        }
