"""One standalone HTML page of a backtest: what ran, the stats table, the plots.

`file_html` with bokeh's JavaScript and CSS inline: no server, works offline, asks no
other host for anything. `stat_table` formats the stats frame for reading (fractions
as %, money to the cent, durations as d hh:mm:ss), as the page and `compare` show it.
"""

from __future__ import annotations

import html
import os
import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from .result import Result

#: Stats columns as read: (column, label, kind); kind picks the format.
LABELS: tuple[tuple[str, str, str], ...] = (
    ("margin_mode", "Margin mode", "text"),
    ("start_time", "Start", "time"),
    ("end_time", "End", "time"),
    ("duration", "Duration", "span"),
    ("exposure", "Exposure Time [%]", "pct"),
    ("start_balance", "Start Balance [$]", "money"),
    ("end_balance", "Balance Final [$]", "money"),
    ("end_equity", "Equity Final [$]", "money"),
    ("equity_peak", "Equity Peak [$]", "money"),
    ("return", "Return [%]", "pct"),
    ("buy_hold_return", "Buy & Hold Return [%]", "pct"),
    ("return_ann", "Return (Ann.) [%]", "pct"),
    ("volatility_ann", "Volatility (Ann.) [%]", "pct"),
    ("cagr", "CAGR [%]", "pct"),
    ("sharpe", "Sharpe Ratio", "ratio"),
    ("sortino", "Sortino Ratio", "ratio"),
    ("calmar", "Calmar Ratio", "ratio"),
    ("alpha", "Alpha [%]", "pct"),
    ("beta", "Beta", "ratio"),
    ("max_drawdown", "Max. Drawdown [%]", "pct"),
    ("max_drawdown_usd", "Max. Drawdown [$]", "money"),
    ("avg_drawdown", "Avg. Drawdown [%]", "pct"),
    ("max_drawdown_duration", "Max. Drawdown Duration", "span"),
    ("avg_drawdown_duration", "Avg. Drawdown Duration", "span"),
    ("trades", "# Trades", "int"),
    ("wins", "Wins", "int"),
    ("win_rate", "Win Rate [%]", "pct"),
    ("best_trade", "Best Trade [%]", "pct"),
    ("worst_trade", "Worst Trade [%]", "pct"),
    ("avg_trade", "Avg. Trade [%]", "pct"),
    ("max_trade_duration", "Max. Trade Duration", "span"),
    ("avg_trade_duration", "Avg. Trade Duration", "span"),
    ("profit_factor", "Profit Factor", "ratio"),
    ("expectancy", "Expectancy [%]", "pct"),
    ("expectancy_usd", "Expectancy [$]", "money"),
    ("sqn", "SQN", "ratio"),
    ("kelly", "Kelly Criterion", "ratio"),
    ("pnl", "Realized P/L [$]", "money"),
    ("fees", "Fees [$]", "money"),
    ("swap", "Swaps [$]", "money"),
    ("written_off", "Written Off [$]", "money"),
    ("take_profits", "Take-profits", "int"),
    ("stop_losses", "Stop-losses", "int"),
    ("trailing_stops", "Trailing Stops", "int"),
    ("liquidations", "Liquidations", "int"),
    ("stop_outs", "Stop-outs", "int"),
    ("margin_calls", "Margin Calls", "int"),
    ("min_margin_level", "Min. Margin Level [%]", "money"),
    ("rejected", "Rejected Commands", "int"),
    ("reductions", "Partial Closes", "int"),
    ("orders_placed", "Orders Placed", "int"),
    ("orders_filled", "Orders Filled", "int"),
    ("orders_cancelled", "Orders Cancelled", "int"),
    ("notes", "Notes", "text"),
)
NONE = "–"


def fmt(value: Any, kind: str) -> str:
    """One stats value as text (None: a dash)."""
    if value is None:
        return NONE
    if kind == "pct":
        return f"{value * 100:,.2f} %"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "ratio":
        return f"{value:,.3f}"
    if kind == "int":
        return f"{value:,}"
    if kind == "time" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if kind == "span" and isinstance(value, timedelta):
        secs = int(value.total_seconds())
        days, rest = divmod(secs, 86_400)
        clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
        return f"{days}d {clock}" if days else clock
    return str(value)


def stat_table(columns: dict[str, dict[str, Any]]) -> pl.DataFrame:
    """Stats side by side: a `stat` column of labels, then one text column per name
    (columns: {name: a stats row as a dict})."""
    data: dict[str, list[str]] = {"stat": [label for _, label, _ in LABELS]}
    for name, row in columns.items():
        data[name] = [fmt(row.get(col), kind) for col, _, kind in LABELS]
    return pl.DataFrame(data, schema={k: pl.String for k in data})


def _html_table(table: pl.DataFrame) -> str:
    """The table as two HTML tables side by side: the run's figures, then the trades'."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns[1:])
    body = []
    for row in table.iter_rows():
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in row[1:])
        body.append(f"<tr><th>{html.escape(row[0])}</th>{cells}</tr>")
    split = [label for _, label, _ in LABELS].index("# Trades")
    tables = [
        f"<table class='stats'><thead><tr><th></th>{head}</tr></thead><tbody>"
        + "".join(part)
        + "</tbody></table>"
        for part in (body[:split], body[split:])
    ]
    return "<div class='tables'>" + "".join(tables) + "</div>"


STYLE = (
    "<style>table.stats{border-collapse:collapse;font:13px sans-serif}"
    "table.stats th,table.stats td{border-bottom:1px solid #ddd;padding:2px 10px;"
    "text-align:right}table.stats tbody th{text-align:left;font-weight:normal;color:#444}"
    ".run{font:13px sans-serif;color:#333;margin-bottom:8px}"
    ".tables{display:flex;gap:24px;align-items:flex-start}</style>"
)


def _header(result: Result, title: str) -> str:
    meta = result.meta
    rng = meta["data_range"]
    lines = [
        f"<h2>{html.escape(title)}</h2>",
        "<div class='run'>",
        f"symbols: {html.escape(', '.join(meta['symbols']))}; "
        f"data: {html.escape(str(rng['start']))} to {html.escape(str(rng['end']))}; ",
        f"{meta['quotes']:,} quotes; workbench {html.escape(meta['workbench_version'])}",
    ]
    for name, p in meta["params"].items():
        args = ", ".join(f"{k}={v!r}" for k, v in p.get("params", {}).items())
        what = p.get("function") or p.get("strategy", "")
        lines.append(f"<br>{html.escape(name)}: {html.escape(what)}({html.escape(args)})")
    return "".join(lines) + "</div>"


def report_layout(
    result: Result, *, symbol: str | None = None, account: str | None = None, title: str = ""
) -> Any:
    """The page's bokeh layout: the run, the stats table, the plots."""
    from bokeh.layouts import column
    from bokeh.models import Div

    table = result.summary()
    plots = result.plot(symbol=symbol, account=account)
    text = STYLE + _header(result, title) + _html_table(table)  # one Div: one shadow root
    stats = Div(text=text, name="stats", width=900)
    return column(stats, plots, name="report")


def write_report(
    result: Result,
    path: str | Path,
    *,
    symbol: str | None = None,
    account: str | None = None,
    title: str | None = None,
) -> Path:
    """Write the report page to `path` (replaced whole: written beside it, then renamed)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    out = Path(path)
    if out.is_dir():
        raise IsADirectoryError(f"cannot write the report to {out}: it is a folder")
    title = title or "Backtest: " + ", ".join(result.symbols)
    page = file_html(
        report_layout(result, symbol=symbol, account=account, title=title), INLINE, title
    )
    # Bokeh adds the external scripts and stylesheets of every model class imported in this
    # process (Panel's, once a notebook or the server imported it), though the report uses
    # none of them: as links they would break the page offline. Plain bokeh is all inline.
    page = _EXTERNAL.sub("", page)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


_EXTERNAL = re.compile(r'<script[^>]*\ssrc="[^"]*"[^>]*>\s*</script>\s*|<link\s[^>]*>\s*')
