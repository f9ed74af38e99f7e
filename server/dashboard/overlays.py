"""Chart overlays computed from the candles shown: a moving average and Bollinger bands.

Floats: they are only plotted. A value needs `n` closes; before that it is NaN (no line).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N = 20  # candles in the window (the moving average's and the bands')
K = 2.0  # the bands' width in standard deviations (population, as Bollinger's)


def bands(
    close: Sequence[float], n: int = N, k: float = K
) -> tuple[list[float], list[float], list[float]]:
    """(moving average, upper band, lower band) of `close`: each the mean of the last `n`
    closes, plus and minus `k` standard deviations of them; NaN for the first n - 1."""
    c = np.asarray(close, dtype=float)
    nan = [float("nan")] * min(len(c), n - 1)
    if len(c) < n:
        return nan, list(nan), list(nan)
    windows = np.lib.stride_tricks.sliding_window_view(c, n)
    ma = windows.mean(axis=1)
    sd = windows.std(axis=1)
    return (nan + ma.tolist(), nan + (ma + k * sd).tolist(), nan + (ma - k * sd).tolist())


def tail_bands(
    close: Sequence[float], count: int, n: int = N, k: float = K
) -> tuple[list[float], list[float], list[float]]:
    """The last `count` values of `bands(close)`, computed from the closes they need only."""
    count = min(count, len(close))
    if count <= 0:
        return [], [], []
    start = max(0, len(close) - count - n + 1)
    ma, up, lo = bands(close[start:], n, k)
    return ma[-count:], up[-count:], lo[-count:]
