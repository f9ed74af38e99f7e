"""How the commands print a Result's stats and a sweep's table: for a person to read.

Money is shown to the cent and ratios as percentages here only; the Result and the table
(`--save`, `--out`) keep every figure exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

PERCENT = {"return", "buy_hold_return", "return_ann", "volatility_ann", "cagr", "exposure",
           "max_drawdown", "avg_drawdown", "win_rate", "best_trade", "worst_trade",
           "avg_trade", "expectancy"}  # fmt: skip
SUMMARY = ["quotes", "return", "max_drawdown", "sharpe", "trades", "win_rate", "pnl", "fees",
           "liquidations", "rejected"]  # fmt: skip


def fmt(name: str, v: Any) -> str:
    """One figure as text: money to the cent, fractions as %, floats to 4 significant."""
    if v is None:
        return "-"
    if isinstance(v, Decimal):
        return f"{v.quantize(Decimal('0.01'), ROUND_HALF_EVEN):,}"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        return f"{v * 100:.2f} %" if name in PERCENT else f"{v:.4g}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(v, timedelta):
        return str(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def show_stats(stats: pl.DataFrame) -> None:
    """Every stat, one line each, a column per account."""
    rows = stats.to_dicts()
    if not rows:
        print("no stats (no account)")
        return
    names = [r["account"] for r in rows]
    width = max(len(c) for c in stats.columns)
    cols = [max(14, len(n)) for n in names]
    if len(rows) > 1:
        print(" " * width + "  " + "  ".join(n.rjust(w) for n, w in zip(names, cols, strict=True)))
    for col in stats.columns:
        if col in ("account", "notes"):
            continue
        cells = [fmt(col, r[col]).rjust(w) for r, w in zip(rows, cols, strict=True)]
        print(f"{col.ljust(width)}  {'  '.join(cells)}")
    for r in rows:
        if r.get("notes"):
            print(
                f"notes ({r['account']}): {r['notes']}" if len(rows) > 1 else f"notes: {r['notes']}"
            )


def show_table(table: pl.DataFrame, params: list[str], all_columns: bool = False) -> None:
    """A sweep's table: one line per run, its params and the main stats."""
    cols = ["run", *params, "symbol"]
    cols += [c for c in (table.columns if all_columns else SUMMARY) if c in table.columns
             and c not in cols]  # fmt: skip
    rows = [[fmt(c, r[c]) for c in cols] for r in table.select(cols).to_dicts()]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    print(f"{table.height} run(s)")
