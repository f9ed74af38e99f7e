"""Bokeh plots of a backtest: price with entries, exits (partial closes too) and
liquidations; equity; drawdown; each trade's net result; margin level. Linked x axes.

Both markers stay visible when a position flips (an exit and an entry on the same quote,
at the same price): exits are hollow rings (squares, diamonds, crosses) drawn first;
entries are small solid triangles drawn after them, on top, inside the exit's ring.
Floats appear here and only here: the exact Decimal columns are converted for drawing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from .result import Result

EXIT_STYLE = {
    "take_profit": ("circle", "#2ca02c"),
    "stop_loss": ("circle", "#d62728"),
    "trailing_stop": ("circle", "#ff7f0e"),
    "manual": ("square", "#7f7f7f"),
    "reset": ("square", "#7f7f7f"),
    "liquidation": ("x", "#000000"),
    "stop_out": ("x", "#9467bd"),
}
REDUCE_STYLE = ("diamond", "#7f7f7f")  # a `reduced` fill (partial close)
ENTRY_STYLE = {"long": ("triangle", "#2ca02c"), "short": ("inverted_triangle", "#d62728")}
EXIT_SIZE, ENTRY_SIZE = 16, 11  # an exit's ring holds an entry on the same quote
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def _floats(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return df.with_columns([pl.col(c).cast(pl.Float64) for c in cols])


def _source(rows: pl.DataFrame, *cols: str) -> Any:
    from bokeh.models import ColumnDataSource

    return ColumnDataSource(rows.select(*cols).to_dict(as_series=False))


def _figure(name: str, title: str, width: int, height: int, x_range: Any = None) -> Any:
    from bokeh.plotting import figure

    kw = {"x_range": x_range} if x_range is not None else {}
    return figure(
        name=name,
        title=title,
        x_axis_type="datetime",
        width=width,
        height=height,
        tools=TOOLS,
        **kw,
    )


def plot_result(
    result: Result, *, symbol: str | None = None, account: str | None = None, width: int = 900
) -> Any:
    """Five linked panels (bokeh `column`); `symbol` defaults to the first symbol traded."""
    from bokeh.layouts import column

    fills = result.fills
    if account is not None:
        if account not in result.accounts:
            raise ValueError(f"no account {account!r}: one of {', '.join(result.accounts)}")
        fills = fills.filter(pl.col("account") == account)
    if symbol is None:
        traded = fills["symbol"].unique(maintain_order=True).to_list()
        symbol = traded[0] if traded else (result.symbols[0] if result.symbols else "")
    elif symbol not in result.symbols:
        raise ValueError(f"no symbol {symbol!r} in this run: one of {', '.join(result.symbols)}")
    price = _price_panel(
        result, _floats(fills.filter(pl.col("symbol") == symbol), "price"), symbol, width
    )
    names = [account] if account is not None else list(result.accounts)
    panels = _account_panels(result, names, width, price.x_range)
    return column(price, *panels, name="backtest")


def _price_panel(result: Result, fills: pl.DataFrame, symbol: str, width: int) -> Any:
    price = _figure("price", f"{symbol}: entries, exits, liquidations", width, 320)
    quotes = result.prices.filter(pl.col("symbol") == symbol)
    quotes = _floats(quotes, "bid", "ask").with_columns(
        ((pl.col("bid") + pl.col("ask")) / 2).alias("mid")
    )
    price.line(
        quotes["time"].to_list(), quotes["mid"].to_list(), color="#888888", legend_label="mid"
    )
    cols = ("time", "price", "ref", "account")
    exits = fills.filter(pl.col("action") == "close")
    for reason, (marker, color) in (*EXIT_STYLE.items(), ("partial close", REDUCE_STYLE)):
        if reason == "partial close":
            rows = fills.filter(pl.col("action") == "reduce")
        else:
            rows = exits.filter(pl.col("reason") == reason)
        if rows.height:
            big = reason in ("liquidation", "stop_out")
            price.scatter(
                "time",
                "price",
                source=_source(rows, *cols),
                marker=marker,
                size=EXIT_SIZE + 2 if big else EXIT_SIZE,
                fill_alpha=0,
                line_color=color,
                line_width=3 if big else 2.5,
                legend_label=reason,
                name=f"exit {reason}",
            )
    for side, (marker, color) in ENTRY_STYLE.items():  # after the exits: drawn on top
        rows = fills.filter((pl.col("action") == "open") & (pl.col("side") == side))
        if rows.height:
            price.scatter(
                "time",
                "price",
                source=_source(rows, *cols),
                marker=marker,
                size=ENTRY_SIZE,
                fill_color=color,
                line_color="white",
                line_width=1,
                legend_label=f"open {side}",
                name=f"open {side}",
            )
    price.legend.click_policy = "hide"
    return price


def drawdown_curve(equity: pl.DataFrame) -> pl.DataFrame:
    """Each sample's fall from the running peak of equity, in % (0 or below)."""
    peak = pl.col("equity").cum_max()
    return equity.with_columns(((pl.col("equity") / peak - 1) * 100).alias("drawdown"))


def _account_panels(result: Result, names: list[str], width: int, x_range: Any) -> list[Any]:
    from bokeh.models import HoverTool, Span

    eq = _floats(result.equity, "equity", "balance", "margin_level")
    equity = _figure("equity", "equity (USD)", width, 220, x_range)
    dd = _figure("drawdown", "drawdown (% below the running peak)", width, 160, x_range)
    pnl = _figure("trade_pnl", "each trade's net result (USD) at its close", width, 180, x_range)
    pnl.add_layout(Span(location=0, dimension="width", line_color="#888888"))
    level = _figure("margin_level", "margin level (%)", width, 180, x_range)
    trades = _floats(result.closed, "net")
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        rows = eq.filter(pl.col("account") == name)
        equity.line(
            rows["time"].to_list(), rows["equity"].to_list(), color=color, legend_label=name
        )
        down = drawdown_curve(rows)
        dd.varea(
            x=down["time"].to_list(),
            y1=down["drawdown"].to_list(),
            y2=0.0,
            fill_color=color,
            fill_alpha=0.4,
            legend_label=name,
        )
        lv = rows.filter(pl.col("margin_level").is_not_null())
        if lv.height:
            level.scatter(
                lv["time"].to_list(),
                lv["margin_level"].to_list(),
                color=color,
                size=3,
                legend_label=name,
            )
        mine = trades.filter(pl.col("account") == name).with_columns(
            pl.when(pl.col("net") > 0)
            .then(pl.lit("#2ca02c"))
            .otherwise(pl.lit("#d62728"))
            .alias("color")
        )
        if mine.height:
            pnl.scatter(
                "close_time",
                "net",
                source=_source(mine, "close_time", "net", "ref", "reason", "color"),
                marker="circle",
                size=8,
                color="color",
                line_color=color,
                legend_label=name,
                name=f"trades {name}",
            )
    pnl.add_tools(
        HoverTool(tooltips=[("trade", "@ref"), ("net", "@net{0,0.00}"), ("reason", "@reason")])
    )
    return [equity, dd, pnl, level]
