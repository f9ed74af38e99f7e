"""The recorder's one-line live status: in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from workbench.recorder.stats import RecorderStats


class StatusLine:
    """Writes status text: rewrites one line when `stream` is a TTY, else appends lines."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._shown = False

    def show(self, text: str) -> None:
        """Display `text` as the current status."""
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the in-place line so later output starts on a fresh line."""
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = False


class StatusFormatter:
    """Turns successive stats snapshots into status text with ticks/s per symbol."""

    def __init__(self) -> None:
        self._prev: dict[str, int] = {}
        self._prev_time: float | None = None

    def render(self, stats: RecorderStats, now_us: int | None = None) -> str:
        """`BTC_USDC 12.0/s 0.3s | ... | ticks=240 dup=3 gaps=1 err=0 bad=0 up`."""
        mono = time.monotonic()
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        elapsed = None if self._prev_time is None else mono - self._prev_time
        parts = []
        for sym, s in stats.symbols.items():
            rate = "-" if not elapsed else f"{(s.ticks - self._prev.get(sym, 0)) / elapsed:.1f}/s"
            age = "-" if s.last_recv_us is None else f"{(now_us - s.last_recv_us) / 1e6:.1f}s"
            parts.append(f"{sym} {rate} {age}")
            self._prev[sym] = s.ticks
        self._prev_time = mono
        parts.append(
            f"ticks={stats.ticks} dup={stats.duplicates} gaps={stats.gaps} "
            f"err={stats.errors} bad={stats.malformed} reconnects={stats.reconnects} "
            f"{'up' if stats.connected else 'DOWN'}"
        )
        return " | ".join(parts)
