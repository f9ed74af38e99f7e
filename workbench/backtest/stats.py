"""Per-account statistics of a backtest, from the engine's events and sampled figures.

Money stays exact (Decimal); ratios (return, drawdown, Sharpe, win rate) are floats, as
analytics may be. Definitions:
- return: end equity / start balance - 1.
- max_drawdown: the largest fall of equity from its running peak, as a fraction of the
  peak, over the sampled curve (every event of the account and every sampling interval);
  a dip between two samples that no event marks is not seen.
- sharpe: mean / standard deviation (ddof 1) of the equity returns between consecutive
  regular samples (start and each interval), times sqrt(intervals per 365-day year);
  no risk-free rate. None with fewer than two returns or no variation.
- trades: closed positions (any reason); a position partly closed (`reduced`) and then
  closed is one trade, its pnl and fees summed over its parts. A win is a trade whose net
  result (pnl - open fee - close fees - swap) is above 0. win_rate = wins / trades.
- pnl: realized, of every close and partial close (so it includes the partial closes of
  a position still open at the end); fees: every open, close and partial close fee.
- take_profits ... trailing_stops, stop_outs: trades by the reason of their final close;
  reductions: partial closes. orders_placed / orders_filled / orders_cancelled: pending
  orders placed, filled by a quote, and cancelled for any reason (by the strategy,
  expired, insufficient margin at the fill, reset). rejected: commands the engine refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import polars as pl

YEAR_US = 365 * 86_400 * 1_000_000
MONEY = pl.Decimal(38, 16)

STATS_SCHEMA: dict[str, Any] = {
    "account": pl.String,
    "margin_mode": pl.String,
    "start_balance": MONEY,
    "end_balance": MONEY,
    "end_equity": MONEY,
    "return": pl.Float64,
    "max_drawdown": pl.Float64,
    "max_drawdown_usd": MONEY,
    "sharpe": pl.Float64,
    "trades": pl.Int64,
    "wins": pl.Int64,
    "win_rate": pl.Float64,
    "pnl": MONEY,
    "fees": MONEY,
    "swap": MONEY,
    "written_off": MONEY,
    "take_profits": pl.Int64,
    "stop_losses": pl.Int64,
    "liquidations": pl.Int64,
    "stop_outs": pl.Int64,
    "margin_calls": pl.Int64,
    "rejected": pl.Int64,
    "trailing_stops": pl.Int64,
    "reductions": pl.Int64,
    "orders_placed": pl.Int64,
    "orders_filled": pl.Int64,
    "orders_cancelled": pl.Int64,
}


def account_stats(
    account: str,
    margin_mode: str,
    start_balance: Decimal,
    samples: list[tuple[Any, ...]],
    events: Iterable[dict[str, Any]],
    closed: list[dict[str, Any]],
    sample_every: int | None,
) -> dict[str, Any]:
    """The stats row of one account.

    samples: (t, kind, balance, equity) in engine order; closed: rows with `net` (Decimal).
    """
    fees = swap = written_off = pnl = Decimal(0)
    counts = dict.fromkeys(("margin_call", "rejected", "reduced", "order_placed",
                            "order_cancelled", "filled"), 0)  # fmt: skip
    for ev in events:
        kind = ev["type"]
        if kind in ("opened", "closed", "reduced"):
            fees += Decimal(ev["fee"])
            written_off += Decimal(ev.get("written_off", 0))
            if kind != "opened":
                pnl += Decimal(ev["pnl"])
            elif "order" in ev:
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
    end_balance, end_equity = samples[-1][2], samples[-1][3]
    dd, dd_usd = _drawdown(s[3] for s in samples)
    return {
        "account": account,
        "margin_mode": margin_mode,
        "start_balance": start_balance,
        "end_balance": end_balance,
        "end_equity": end_equity,
        "return": float(end_equity / start_balance - 1) if start_balance else None,
        "max_drawdown": dd,
        "max_drawdown_usd": dd_usd,
        "sharpe": sharpe([s[3] for s in samples if s[1] in ("start", "interval")], sample_every),
        "trades": len(closed),
        "wins": wins,
        "win_rate": wins / len(closed) if closed else None,
        "pnl": pnl,
        "fees": fees,
        "swap": swap,
        "written_off": written_off,
        "take_profits": reasons.count("take_profit"),
        "stop_losses": reasons.count("stop_loss"),
        "liquidations": reasons.count("liquidation"),
        "stop_outs": reasons.count("stop_out"),
        "margin_calls": counts["margin_call"],
        "rejected": counts["rejected"],
        "trailing_stops": reasons.count("trailing_stop"),
        "reductions": counts["reduced"],
        "orders_placed": counts["order_placed"],
        "orders_filled": counts["filled"],
        "orders_cancelled": counts["order_cancelled"],
    }


def _drawdown(equity: Iterable[Decimal]) -> tuple[float, Decimal]:
    """(largest fall from the running peak as a fraction of it, the same in USD)."""
    peak: Decimal | None = None
    worst = Decimal(0)
    worst_usd = Decimal(0)
    for e in equity:
        if peak is None or e > peak:
            peak = e
            continue
        fall = peak - e
        if fall > worst_usd:
            worst_usd = fall
        if peak > 0 and fall / peak > worst:
            worst = fall / peak
    return float(worst), worst_usd


def sharpe(equity: list[Decimal], sample_every: int | None) -> float | None:
    """Annualised Sharpe ratio of regularly sampled equity (see the module docstring)."""
    if not sample_every or len(equity) < 3:
        return None
    rets = [float(b / a - 1) for a, b in zip(equity[:-1], equity[1:], strict=True) if a > 0]
    if len(rets) < 2:
        return None
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(YEAR_US / sample_every)


def stats_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Stats rows as a DataFrame with exact Decimal money columns."""
    return (
        pl.DataFrame(rows, schema=STATS_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=STATS_SCHEMA)
    )
