"""Bars built from quotes, in exact integer units: OHLC of the mid, last bid and ask.

Bars are aligned on multiples of the interval since the epoch (UTC). A bar is handed out
only once engine time has reached its end (a quote at or after the end arrived), so a
strategy never learns about a bar before it is over; the last, unfinished bars of a run
are not handed out. Buckets without quotes give no bar.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from ..money import PRICE_DP, as_decimal
from .strategy import Bar

_UNITS_US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
_INTERVAL = re.compile(r"\s*(\d+)\s*(us|ms|s|m|h|d)\s*")


def interval_us(value: str | int) -> int:
    """µs of an interval given as µs or as text: "500ms", "1s", "1m", "15m", "1h", "1d"."""
    if isinstance(value, bool):
        raise TypeError("an interval is µs or text like '1m', not a bool")
    if isinstance(value, int):
        n = value
    else:
        m = _INTERVAL.fullmatch(str(value))
        if m is None:
            raise ValueError(f"bad interval {value!r}: use e.g. '1s', '1m', '1h' or µs")
        n = int(m.group(1)) * _UNITS_US[m.group(2)]
    if n <= 0:
        raise ValueError(f"an interval must be positive, not {value!r}")
    return n


def _mid(two_mid: int) -> Decimal:
    """The exact mid from bid + ask (in 1e-8 units)."""
    return as_decimal(two_mid, PRICE_DP) / 2


class BarBuilder:
    """Builds the bars of every symbol; all open bars share the bucket of the last quote."""

    def __init__(self, interval: int, names: Sequence[str]) -> None:
        self.interval = interval
        self.names = list(names)  # symbol by engine id
        # per engine id: [start, open2, high2, low2, close2, bid, ask, quotes] (2x mid units)
        self.open: dict[int, list[int]] = {}
        self.next_end: int | None = None

    def add(self, sid: int, t: int, bid: int, ask: int) -> None:
        """One quote (bad quotes, bid <= 0 or bid > ask, are left out as the engine does)."""
        if bid <= 0 or ask <= 0 or bid > ask:
            return
        m2 = bid + ask
        bar = self.open.get(sid)
        if bar is None:
            start = t - t % self.interval
            self.open[sid] = [start, m2, m2, m2, m2, bid, ask, 1]
            if self.next_end is None:
                self.next_end = start + self.interval
            return
        if m2 > bar[2]:
            bar[2] = m2
        elif m2 < bar[3]:
            bar[3] = m2
        bar[4] = m2
        bar[5] = bid
        bar[6] = ask
        bar[7] += 1

    def add_many(
        self, sids: np.ndarray, ts: np.ndarray, bids: np.ndarray, asks: np.ndarray
    ) -> None:
        """Quotes that all fall in one bucket (the caller cuts its batches at bar ends)."""
        ok = (bids > 0) & (asks > 0) & (bids <= asks)
        if not ok.all():
            sids, ts, bids, asks = sids[ok], ts[ok], bids[ok], asks[ok]
        if len(sids) == 0:
            return
        m2 = bids + asks
        for sid in np.unique(sids).tolist():
            idx = np.flatnonzero(sids == sid)
            first, last = int(idx[0]), int(idx[-1])
            seg = m2[idx]
            hi, lo = int(seg.max()), int(seg.min())
            bar = self.open.get(sid)
            if bar is None:
                t = int(ts[first])
                start = t - t % self.interval
                bar = [start, int(m2[first]), hi, lo, 0, 0, 0, 0]
                self.open[sid] = bar
                if self.next_end is None:
                    self.next_end = start + self.interval
            bar[2] = max(bar[2], hi)
            bar[3] = min(bar[3], lo)
            bar[4] = int(m2[last])
            bar[5] = int(bids[last])
            bar[6] = int(asks[last])
            bar[7] += len(idx)

    def due(self, t: int) -> list[Bar]:
        """The bars that ended at or before time t (in symbol id order), now closed."""
        if self.next_end is None or t < self.next_end:
            return []
        out = []
        for sid in sorted(self.open):
            start, o, h, lo, c, bid, ask, n = self.open[sid]
            out.append(
                Bar(
                    self.names[sid],
                    start,
                    start + self.interval,
                    _mid(o),
                    _mid(h),
                    _mid(lo),
                    _mid(c),
                    as_decimal(bid, PRICE_DP),
                    as_decimal(ask, PRICE_DP),
                    n,
                )
            )
        self.open.clear()
        self.next_end = None
        return out
