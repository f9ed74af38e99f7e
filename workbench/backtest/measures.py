"""The stats figures that need more than a count or a sum (floats: analytics, not ledger).

Pure functions over plain values, so each can be checked against a hand computation:
UTC day closes and the annual figures drawn from daily returns, drawdown episodes,
the time a position was held, and the figures of a list of trades. The conventions
(365-day years, what is None and why) are in `stats`' module docstring.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

DAY_US = 86_400_000_000
YEAR_DAYS = 365  # crypto trades every day
MIN_DAYS = 2  # a run shorter than this has no annual figures
ANNUAL = ("return_ann", "volatility_ann", "cagr", "sharpe", "sortino", "calmar", "alpha", "beta")
Point = tuple[int, Any]  # (engine time µs, value)
MONEY_STEP = Decimal("1e-16")  # money's step


def us(delta: int | float | None) -> timedelta | None:
    """Microseconds as a timedelta (None stays None)."""
    return None if delta is None else timedelta(microseconds=round(delta))


def day_closes(points: Sequence[Point], first_day: int, last_day: int) -> list[Any]:
    """The close of every UTC day in [first_day, last_day] (days since the epoch): the
    last value at a time in that day, or the previous close when the day has none.

    points: (t, value) in time order, the first at or before the end of `first_day`.
    """
    out: list[Any] = []
    day, last = first_day, points[0][1]
    for t, v in points:
        d = t // DAY_US
        while day < d and day <= last_day:
            out.append(last)
            day += 1
        if d > last_day:
            break
        last = v
    while day <= last_day:
        out.append(last)
        day += 1
    return out


def annual_figures(
    start: Decimal,
    closes: list[Decimal],
    duration_us: int,
    total_return: float | None,
    max_dd: float,
    bench: list[float] | None = None,
    bench_return: float | None = None,
) -> tuple[dict[str, float | None], list[str]]:
    """return_ann ... beta from the daily closes of equity (and of the benchmark), and the
    reasons for the figures left None.

    start: the equity the first day's return is measured from; closes: one per UTC day
    the run touched; bench: the benchmark's value at the start, then one per day.
    """
    out: dict[str, float | None] = dict.fromkeys(ANNUAL)
    if duration_us < MIN_DAYS * DAY_US:
        return out, [f"annualised figures: the run is shorter than {MIN_DAYS} days"]
    values = [start, *closes]
    if any(v <= 0 for v in values):
        out["return_ann"] = out["cagr"] = -1.0
        out["calmar"] = -1.0 / max_dd if max_dd > 0 else None
        return out, ["volatility, sharpe, sortino, alpha, beta: equity reached 0"]
    rets = [float(b / a) - 1 for a, b in pairwise(values)]
    notes: list[str] = []
    try:
        g = float(values[-1] / values[0]) ** (1 / len(rets)) - 1  # geometric mean day
        ann = (1 + g) ** YEAR_DAYS - 1
        var = statistics.variance(rets)
        vol2 = (var + (1 + g) ** 2) ** YEAR_DAYS - (1 + g) ** (2 * YEAR_DAYS)
        years = duration_us / DAY_US / YEAR_DAYS
        cagr = float(values[-1] / values[0]) ** (1 / years) - 1
    except OverflowError:
        return out, ["annualised figures: too large for a float"]
    vol = math.sqrt(max(vol2, 0.0))
    out.update(return_ann=ann, volatility_ann=vol, cagr=cagr)
    if vol > 0:
        out["sharpe"] = ann / vol
    else:
        notes.append("sharpe: no volatility")
    down = math.sqrt(sum(min(r, 0.0) ** 2 for r in rets) / len(rets)) * math.sqrt(YEAR_DAYS)
    if down > 0:
        out["sortino"] = ann / down
    else:
        notes.append("sortino: no losing day")
    if max_dd > 0:
        out["calmar"] = ann / max_dd
    else:
        notes.append("calmar: no drawdown")
    if bench is not None and total_return is not None and bench_return is not None:
        mine = [math.log(b / a) for a, b in pairwise(float(v) for v in values)]
        market = [math.log(b / a) for a, b in pairwise(bench)]
        mvar = statistics.variance(market)
        if mvar > 0:
            beta = statistics.covariance(mine, market) / mvar
            out["beta"] = beta
            out["alpha"] = total_return - beta * bench_return
        else:
            notes.append("alpha, beta: the benchmark did not move")
    return out, notes


@dataclass
class Drawdowns:
    """Falls of equity from its running peak, over a sampled curve."""

    max: float  # the deepest, as a fraction of its peak
    max_usd: Decimal  # the largest in USD
    avg: float  # the mean depth of the episodes (0 without any)
    max_duration: int  # µs, peak to recovery (or to the end)
    avg_duration: int
    episodes: int


def drawdowns(points: Iterable[Point]) -> Drawdowns:
    """Drawdown episodes: each starts at the last time equity stood at its running peak
    and ends at the first time it stands there again (or at the last point)."""
    peak: Decimal | None = None
    peak_t = last_t = 0
    depth, worst, worst_usd = 0.0, 0.0, Decimal(0)
    falling = False
    episodes: list[tuple[float, int]] = []
    for t, e in points:
        last_t = t
        if peak is None or e >= peak:
            if falling:
                episodes.append((depth, t - peak_t))
                falling, depth = False, 0.0
            peak, peak_t = e, t
            continue
        falling = True
        fall = peak - e
        worst_usd = max(worst_usd, fall)
        if peak > 0:
            depth = max(depth, float(fall / peak))
            worst = max(worst, depth)
    if falling:
        episodes.append((depth, last_t - peak_t))
    n = len(episodes)
    return Drawdowns(
        max=worst,
        max_usd=worst_usd,
        avg=sum(d for d, _ in episodes) / n if n else 0.0,
        max_duration=max((u for _, u in episodes), default=0),
        avg_duration=round(sum(u for _, u in episodes) / n) if n else 0,
        episodes=n,
    )


def exposure(events: Iterable[dict[str, Any]], end: int) -> int:
    """µs during which at least one position was open (`opened` .. `closed`), up to `end`."""
    held = 0
    count = 0
    since = 0
    for ev in events:
        kind = ev["type"]
        if kind == "opened":
            if count == 0:
                since = ev["t"]
            count += 1
        elif kind == "closed" and count > 0:
            count -= 1
            if count == 0:
                held += ev["t"] - since
    if count > 0:
        held += end - since
    return held


def trade_figures(closed: list[dict[str, Any]]) -> dict[str, Any]:
    """best/worst/avg trade, durations, profit factor, expectancy, SQN and Kelly of the
    trades; a trade's return is its net result over its notional at entry."""
    nets = [Decimal(c["net"]) for c in closed]
    notional = [Decimal(str(c["qty"])) * Decimal(str(c["open_price"])) for c in closed]
    rets = [float(n / v) if v else 0.0 for n, v in zip(nets, notional, strict=True)]
    durations = [c["close_t"] - c["open_t"] for c in closed]
    n = len(closed)
    out: dict[str, Any] = {
        "best_trade": max(rets, default=None),
        "worst_trade": min(rets, default=None),
        "avg_trade": _geometric_mean(rets),
        "max_trade_duration": us(max(durations, default=None)),
        "avg_trade_duration": us(sum(durations) / n) if n else None,
        "profit_factor": None,
        "expectancy": sum(rets) / n if n else None,
        "expectancy_usd": (sum(nets) / n).quantize(MONEY_STEP) if n else None,
        "sqn": None,
        "kelly": None,
    }
    gains = [x for x in nets if x > 0]
    losses = [-x for x in nets if x < 0]
    if losses:
        out["profit_factor"] = float(sum(gains) / sum(losses))
    if gains and losses:
        win_rate = sum(1 for x in nets if x > 0) / n
        ratio = float((sum(gains) / len(gains)) / (sum(losses) / len(losses)))
        out["kelly"] = win_rate - (1 - win_rate) / ratio
    if n >= 2:
        sd = statistics.stdev(float(x) for x in nets)
        if sd > 0:
            out["sqn"] = math.sqrt(n) * float(sum(nets) / n) / sd
    return out


def _geometric_mean(rets: list[float]) -> float | None:
    if not rets or any(r <= -1 for r in rets):
        return None
    return math.exp(sum(math.log1p(r) for r in rets) / len(rets)) - 1
