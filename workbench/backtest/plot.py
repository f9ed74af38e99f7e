"""Bokeh plots of a backtest: price with entries, exits (partial closes too) and
liquidations; equity; margin level.

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
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _floats(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return df.with_columns([pl.col(c).cast(pl.Float64) for c in cols])


def plot_result(
    result: Result, *, symbol: str | None = None, account: str | None = None, width: int = 900
) -> Any:
    """Three linked panels (bokeh `column`); `symbol` defaults to the first symbol traded."""
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    fills = result.fills
    if account is not None:
        fills = fills.filter(pl.col("account") == account)
    if symbol is None:
        traded = fills["symbol"].unique(maintain_order=True).to_list()
        symbol = traded[0] if traded else (result.symbols[0] if result.symbols else "")
    fills = _floats(fills.filter(pl.col("symbol") == symbol), "price")

    price = figure(
        title=f"{symbol}: entries, exits, liquidations",
        x_axis_type="datetime",
        width=width,
        height=320,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    quotes = result.prices.filter(pl.col("symbol") == symbol)
    quotes = _floats(quotes, "bid", "ask").with_columns(
        ((pl.col("bid") + pl.col("ask")) / 2).alias("mid")
    )
    price.line(
        quotes["time"].to_list(), quotes["mid"].to_list(), color="#888888", legend_label="mid"
    )
    for side, marker, color in (
        ("long", "triangle", "#2ca02c"),
        ("short", "inverted_triangle", "#d62728"),
    ):
        rows = fills.filter((pl.col("action") == "open") & (pl.col("side") == side))
        if rows.height:
            price.scatter(
                "time",
                "price",
                source=ColumnDataSource(
                    rows.select("time", "price", "ref").to_dict(as_series=False)
                ),
                marker=marker,
                size=9,
                color=color,
                legend_label=f"open {side}",
            )
    exits = fills.filter(pl.col("action") == "close")
    for reason, (marker, color) in (*EXIT_STYLE.items(), ("partial close", REDUCE_STYLE)):
        if reason == "partial close":
            rows = fills.filter(pl.col("action") == "reduce")
        else:
            rows = exits.filter(pl.col("reason") == reason)
        if rows.height:
            size = 14 if reason in ("liquidation", "stop_out") else 7
            price.scatter(
                "time",
                "price",
                source=ColumnDataSource(
                    rows.select("time", "price", "ref").to_dict(as_series=False)
                ),
                marker=marker,
                size=size,
                color=color,
                line_width=2,
                legend_label=reason,
            )
    price.legend.click_policy = "hide"

    eq = _floats(result.equity, "equity", "balance", "margin_level")
    equity = figure(
        title="equity (USD)",
        x_axis_type="datetime",
        width=width,
        height=220,
        x_range=price.x_range,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    level = figure(
        title="margin level (%)",
        x_axis_type="datetime",
        width=width,
        height=180,
        x_range=price.x_range,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    names = [account] if account is not None else list(result.accounts)
    for i, name in enumerate(names):
        rows = eq.filter(pl.col("account") == name)
        color = PALETTE[i % len(PALETTE)]
        equity.line(
            rows["time"].to_list(), rows["equity"].to_list(), color=color, legend_label=name
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
    return column(price, equity, level)
