"""Per-account statistics of a backtest, from the engine's events and sampled figures.

The columns follow backtesting.py's `compute_stats` (same figures, same formulas where
noted), then ours. Money stays exact (Decimal); ratios are floats and FRACTIONS (0.05 is
5 %); times are UTC datetimes, durations timedeltas. Definitions:
- start_time, end_time: the run's first quote and its end (its last input), UTC;
  duration = end_time - start_time.
- exposure: the share of the duration during which the account held at least one position.
- end_equity (equity final), equity_peak: over the sampled equity curve (every event of
  the account and every sampling interval: a dip between two samples is not seen).
- return: end equity / start balance - 1. buy_hold_return: the mean, over the symbols the
  account traded (all the run's symbols if none), of last mid / first mid - 1, first and
  last quote of the run: an equal-money, unlevered, fee-free long of each.
- Annual figures come from DAILY returns: the equity curve's close of each UTC day it
  touches (its last sample before the next midnight, or the interval sample at that
  midnight, which is taken before any input at that time), the first day's return
  measured from the start balance; a year is 365 days (crypto trades every day). As
  backtesting.py: return_ann = (1 + g)^365 - 1, g the geometric mean daily return;
  volatility_ann = sqrt((var + (1 + g)^2)^365 - (1 + g)^730), var the variance of the
  daily returns (ddof 1); sharpe = return_ann / volatility_ann (no risk-free rate);
  sortino = return_ann / (sqrt(mean(min(r, 0)^2)) * sqrt(365)); calmar = return_ann /
  max_drawdown; cagr = (end / start)^(1 / years) - 1 over the duration; beta = cov / var
  of the daily log returns of equity and of the benchmark (the buy & hold basket, its
  daily closes from the kept prices, which are thinned on long runs), alpha = return -
  beta * buy_hold_return. A run shorter than 2 days has none of these (None, and
  `notes` says why), nor has a figure that would divide by 0 (no losing day: no
  sortino; no drawdown: no calmar). Equity at 0 on a day's close: return_ann = cagr =
  -1, volatility, sharpe, sortino, alpha and beta None.
- max_drawdown: the largest fall of equity from its running peak, as a fraction of the
  peak (max_drawdown_usd: the largest in USD). A drawdown episode runs from the last
  sample at the peak to the first back at it (or to the end); avg_drawdown is the mean
  depth of the episodes, max/avg_drawdown_duration their lengths (0 without any).
- trades: closed positions (any reason); positions still open at the end are not
  trades. A position partly closed (`reduced`) and then closed is one trade, its pnl and
  fees summed over its parts. A trade's return is its net result (pnl - open fee - close
  fees - swap) over its notional at entry (qty x open price): unlevered, costs included.
  A win has a net result above 0; win_rate = wins / trades. best/worst_trade: returns;
  avg_trade: their geometric mean; max/avg_trade_duration: open to final close;
  profit_factor = the sum of the winning trades' net / that of the losing ones (USD; as
  usually defined: backtesting.py sums returns); expectancy: the mean trade return
  (expectancy_usd: the mean net result); sqn = sqrt(trades) * mean(net) / stdev(net);
  kelly = win_rate - (1 - win_rate) / (mean win / mean loss).
- pnl: realized, of every close and partial close (so it includes the partial closes of
  a position still open at the end); fees: every open, close and partial close fee.
- take_profits ... trailing_stops, liquidations, stop_outs: trades by the reason of their
  final close; margin_calls: margin call events; min_margin_level: the lowest sampled
  margin level (%, None if nothing was ever open); reductions: partial closes.
  orders_placed / orders_filled / orders_cancelled: pending orders placed, filled by a
  quote, and cancelled for any reason (by the strategy, expired, insufficient margin at
  the fill, reset). rejected: commands the engine refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from .measures import (
    DAY_US,
    MONEY_STEP,
    annual_figures,
    day_closes,
    drawdowns,
    exposure,
    trade_figures,
    us,
)

MONEY = pl.Decimal(38, 16)
TIME = pl.Datetime("us", "UTC")
SPAN = pl.Duration("us")

STATS_SCHEMA: dict[str, Any] = {
    "account": pl.String,
    "margin_mode": pl.String,
    "start_time": TIME,
    "end_time": TIME,
    "duration": SPAN,
    "exposure": pl.Float64,
    "start_balance": MONEY,
    "end_balance": MONEY,
    "end_equity": MONEY,
    "equity_peak": MONEY,
    "return": pl.Float64,
    "buy_hold_return": pl.Float64,
    "return_ann": pl.Float64,
    "volatility_ann": pl.Float64,
    "cagr": pl.Float64,
    "sharpe": pl.Float64,
    "sortino": pl.Float64,
    "calmar": pl.Float64,
    "alpha": pl.Float64,
    "beta": pl.Float64,
    "max_drawdown": pl.Float64,
    "max_drawdown_usd": MONEY,
    "avg_drawdown": pl.Float64,
    "max_drawdown_duration": SPAN,
    "avg_drawdown_duration": SPAN,
    "trades": pl.Int64,
    "wins": pl.Int64,
    "win_rate": pl.Float64,
    "best_trade": pl.Float64,
    "worst_trade": pl.Float64,
    "avg_trade": pl.Float64,
    "max_trade_duration": SPAN,
    "avg_trade_duration": SPAN,
    "profit_factor": pl.Float64,
    "expectancy": pl.Float64,
    "expectancy_usd": MONEY,
    "sqn": pl.Float64,
    "kelly": pl.Float64,
    "pnl": MONEY,
    "fees": MONEY,
    "swap": MONEY,
    "written_off": MONEY,
    "take_profits": pl.Int64,
    "stop_losses": pl.Int64,
    "trailing_stops": pl.Int64,
    "liquidations": pl.Int64,
    "stop_outs": pl.Int64,
    "margin_calls": pl.Int64,
    "min_margin_level": MONEY,
    "rejected": pl.Int64,
    "reductions": pl.Int64,
    "orders_placed": pl.Int64,
    "orders_filled": pl.Int64,
    "orders_cancelled": pl.Int64,
    "notes": pl.String,
}


@dataclass
class Benchmark:
    """Buy & hold of a basket: each symbol's first and last mid of the run, and its kept
    mids (times and mids, numpy arrays in time order) for the daily closes."""

    first: dict[str, tuple[int, float]] = field(default_factory=dict)
    last: dict[str, tuple[int, float]] = field(default_factory=dict)
    mids: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def total_return(self, symbols: list[str]) -> float | None:
        syms = [s for s in symbols if s in self.first and s in self.last]
        if not syms:
            return None
        return sum(self.last[s][1] / self.first[s][1] - 1 for s in syms) / len(syms)

    def closes(self, symbols: list[str], first_day: int, last_day: int) -> list[float] | None:
        """1.0 (the start), then the basket's value at each UTC day's close: each symbol's
        last mid before the next midnight (its first mid before it has any), over its
        first mid, averaged."""
        syms = [s for s in symbols if s in self.first and s in self.last]
        if not syms:
            return None
        ends = (np.arange(first_day, last_day + 1, dtype=np.int64) + 1) * DAY_US
        total = np.zeros(len(ends))
        for s in syms:
            t, mid = self.mids.get(s, (np.empty(0, np.int64), np.empty(0)))
            (t0, m0), (t1, m1) = self.first[s], self.last[s]
            t = np.concatenate(([t0], t, [t1]))  # the exact first and last quotes
            mid = np.concatenate(([m0], mid, [m1]))
            order = np.argsort(t, kind="stable")
            t, mid = t[order], mid[order]
            idx = np.searchsorted(t, ends, "left") - 1
            total += np.where(idx >= 0, mid[np.maximum(idx, 0)], m0) / m0
        return [1.0, *(total / len(syms)).tolist()]


def account_stats(
    account: str,
    margin_mode: str,
    start_balance: Decimal,
    samples: list[tuple[Any, ...]],
    events: Iterable[dict[str, Any]],
    closed: list[dict[str, Any]],
    bench: Benchmark | None = None,
    symbols: list[str] | None = None,
) -> dict[str, Any]:
    """The stats row of one account.

    samples: (t, kind, balance, equity, margin_level) in engine order, the first the run's
    start and the last its end; events: the account's, in engine order; closed: its trades
    (`net` Decimal); symbols: the run's (the benchmark of an account that never traded).
    """
    fees = swap = written_off = pnl = Decimal(0)
    counts = dict.fromkeys(("margin_call", "rejected", "reduced", "order_placed",
                            "order_cancelled", "filled"), 0)  # fmt: skip
    mine: list[dict[str, Any]] = []
    traded: dict[str, None] = {}
    for ev in events:
        kind = ev["type"]
        if kind in ("opened", "closed"):
            mine.append(ev)
        if kind in ("opened", "closed", "reduced"):
            fees += Decimal(ev["fee"])
            written_off += Decimal(ev.get("written_off", 0))
            if kind != "opened":
                pnl += Decimal(ev["pnl"])
            else:
                traded[ev["symbol"]] = None
                if "order" in ev:
                    counts["filled"] += 1
            if kind == "reduced":
                counts["reduced"] += 1
        elif kind == "swap":
            swap += Decimal(ev["amount"])
            written_off += Decimal(ev.get("written_off", 0))
        elif kind in counts:
            counts[kind] += 1
    reasons = [c["reason"] for c in closed]
    wins = sum(1 for c in closed if c["net"] > 0)
    t0, t1 = samples[0][0], samples[-1][0]
    end_balance, end_equity = samples[-1][2], samples[-1][3]
    curve = [(s[0], s[3]) for s in samples]
    dd = drawdowns(curve)
    ret = float(end_equity / start_balance - 1) if start_balance else None
    basket = list(traded) or list(symbols or [])
    bh = bench.total_return(basket) if bench is not None else None
    first_day, last_day = t0 // DAY_US, t1 // DAY_US
    # an interval sample at t is the state before any input at t: at midnight, the close
    # of the day that ends there
    daily = [(s[0] - 1 if s[1] == "interval" else s[0], s[3]) for s in samples]
    closes = day_closes(daily, first_day, last_day)
    bench_closes = bench.closes(basket, first_day, last_day) if bench is not None else None
    annual, notes = annual_figures(start_balance, closes, t1 - t0, ret, dd.max, bench_closes, bh)
    if not closed:
        notes.append("trade figures: no closed trade")
    levels = [s[4] for s in samples if s[4] is not None]
    return {
        "account": account,
        "margin_mode": margin_mode,
        "start_time": _utc(t0),
        "end_time": _utc(t1),
        "duration": us(t1 - t0),
        "exposure": exposure(mine, t1) / (t1 - t0) if t1 > t0 else None,
        "start_balance": start_balance,
        "end_balance": end_balance,
        "end_equity": end_equity,
        "equity_peak": max(e for _, e in curve),
        "return": ret,
        "buy_hold_return": bh,
        **annual,
        "max_drawdown": dd.max,
        "max_drawdown_usd": dd.max_usd,
        "avg_drawdown": dd.avg,
        "max_drawdown_duration": us(dd.max_duration),
        "avg_drawdown_duration": us(dd.avg_duration),
        "trades": len(closed),
        "wins": wins,
        "win_rate": wins / len(closed) if closed else None,
        **trade_figures(closed),
        "pnl": pnl,
        "fees": fees,
        "swap": swap,
        "written_off": written_off,
        "take_profits": reasons.count("take_profit"),
        "stop_losses": reasons.count("stop_loss"),
        "trailing_stops": reasons.count("trailing_stop"),
        "liquidations": reasons.count("liquidation"),
        "stop_outs": reasons.count("stop_out"),
        "margin_calls": counts["margin_call"],
        "min_margin_level": min(levels).quantize(MONEY_STEP) if levels else None,
        "rejected": counts["rejected"],
        "reductions": counts["reduced"],
        "orders_placed": counts["order_placed"],
        "orders_filled": counts["filled"],
        "orders_cancelled": counts["order_cancelled"],
        "notes": "; ".join(notes) or None,
    }


def _utc(t: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + us(t)  # type: ignore[operator]


def stats_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Stats rows as a DataFrame with exact Decimal money columns."""
    return (
        pl.DataFrame(rows, schema=STATS_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=STATS_SCHEMA)
    )
