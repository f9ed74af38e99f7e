"""A streaming candlestick chart with bid/ask lines (Bokeh), fed by the producer's pushes,
with trade marks and labelled price lines (entries, TP/SL, trailing, liquidation, orders)."""

from __future__ import annotations

from typing import Any

from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, LabelSet, Scatter
from bokeh.plotting import figure

from . import lines
from .ranges import Placeholder

UP, DOWN = "#26a69a", "#ef5350"
BG = "#131722"
KEEP_QUOTES = 1200
KEEP_CANDLES = 600


def _empty_candles() -> dict[str, list[Any]]:
    return {"t": [], "open": [], "high": [], "low": [], "close": [], "color": []}


class PriceChart:
    """Candles of one symbol and frame, bid/ask lines, trade markers and price lines."""

    def __init__(self, *, height: int = 380, name: str = "price_chart") -> None:
        self.candles = ColumnDataSource(_empty_candles(), name="candles")
        self.quotes = ColumnDataSource({"t": [], "bid": [], "ask": []}, name="quotes")
        self.marks = ColumnDataSource(
            {"t": [], "price": [], "kind": [], "marker": [], "color": [], "label": []},
            name="marks",
        )
        fig = figure(
            x_axis_type="datetime", height=height, sizing_mode="stretch_width", name=name,
            tools="xpan,xwheel_zoom,box_zoom,reset,crosshair,save", active_scroll="xwheel_zoom",
            background_fill_color=BG, border_fill_color=BG, toolbar_location="above",
            min_border_left=10, min_border_right=60, y_axis_location="right",
        )  # fmt: skip
        fig.grid.grid_line_color = "#2a2e39"
        fig.outline_line_color = None
        for ax in (fig.xaxis, fig.yaxis):
            ax.axis_label_text_color = ax.major_label_text_color = "#b2b5be"
            ax.axis_line_color = ax.major_tick_line_color = ax.minor_tick_line_color = "#363a45"
        fig.yaxis.formatter.use_scientific = False  # type: ignore[attr-defined]
        self.levels = ColumnDataSource(lines.empty(), name="price_lines")
        wicks = fig.segment("t", "high", "t", "low", color="color", source=self.candles)
        self.bars = fig.vbar(
            "t", 700, "open", "close", fill_color="color", line_color="color",
            source=self.candles,
        )  # fmt: skip
        bid = fig.line("t", "bid", color=DOWN, alpha=0.9, line_width=1.2, source=self.quotes,
                       legend_label="bid")  # fmt: skip
        ask = fig.line("t", "ask", color=UP, alpha=0.9, line_width=1.2, source=self.quotes,
                       legend_label="ask")  # fmt: skip
        spans = fig.hspan(y="y", line_color="color", line_dash="dash", line_width="width",
                          source=self.levels, name="price_line_spans")  # fmt: skip
        fig.add_layout(LabelSet(
            x="x", x_units="screen", y="y", text="label", text_color="color", source=self.levels,
            text_font_size="11px", text_baseline="bottom", y_offset=1,
            background_fill_color=BG, background_fill_alpha=0.75, name="price_line_labels",
        ))  # fmt: skip
        marks = fig.scatter("t", "price", marker="marker", size=13, color="color",
                            line_color="white", source=self.marks, name="trade_marks")  # fmt: skip
        assert isinstance(marks.glyph, Scatter)
        fig.add_tools(HoverTool(renderers=[marks], tooltips=[("", "@label")]))
        # the price scale follows the prices; the lines join it only when asked (fit_levels)
        self._empty = Placeholder(fig)  # the ranges of an empty chart (no NaN ranges)
        self._prices = [wicks, self.bars, bid, ask, marks, self._empty.renderer]
        self._spans = spans
        fig.x_range = DataRange1d(renderers=list(self._prices))
        fig.y_range = DataRange1d(renderers=list(self._prices))
        fig.legend.location = "top_right"
        fig.legend.background_fill_alpha = 0.3
        fig.legend.label_text_color = "#b2b5be"
        fig.legend.border_line_alpha = 0
        self.figure = fig

    # ------------------------------------------------------------ updates
    def reset(self, candles: dict[str, list[Any]], seconds: int) -> None:
        """Show these candles (a new symbol or frame); the quote lines start over."""
        data = dict(candles)
        data["color"] = [UP if c >= o else DOWN for o, c in zip(data["open"], data["close"],
                                                                strict=True)]  # fmt: skip
        self.candles.data = data
        self.quotes.data = {"t": [], "bid": [], "ask": []}
        self._empty.show(not data["t"])
        self.bars.glyph.width = seconds * 1000 * 0.7  # type: ignore[attr-defined]

    def candle(self, tail: dict[str, list[Any]]) -> None:
        """Patch the open candle or stream new ones (the producer's last two)."""
        ts = self.candles.data["t"]
        last = ts[-1] if len(ts) else None
        new: dict[str, list[Any]] = _empty_candles()
        for i, t in enumerate(tail["t"]):
            row = {k: tail[k][i] for k in ("open", "high", "low", "close")}
            color = UP if row["close"] >= row["open"] else DOWN
            if last is not None and t == last:
                n = len(ts) - 1
                self.candles.patch({k: [(n, v)] for k, v in {**row, "color": color}.items()})
            elif last is None or t > last:
                new["t"].append(t)
                for k, v in row.items():
                    new[k].append(v)
                new["color"].append(color)
        if new["t"]:
            self._empty.show(False)
            self.candles.stream(new, rollover=KEEP_CANDLES)

    def quote(self, t_ms: float, bid: float, ask: float) -> None:
        self._empty.show(False)
        self.quotes.stream({"t": [t_ms], "bid": [bid], "ask": [ask]}, rollover=KEEP_QUOTES)

    def mark(self, t_ms: float, price: float, kind: str, label: str) -> None:
        """A marker: entry (triangle), exit (circle), liquidation/stop-out (x)."""
        marker, color = {
            "long": ("triangle", UP), "short": ("inverted_triangle", DOWN),
            "exit": ("circle", "#90caf9"), "liquidation": ("x", "#ff1744"),
        }.get(kind, ("diamond", "#ffffff"))  # fmt: skip
        self.marks.stream({"t": [t_ms], "price": [price], "kind": [kind], "marker": [marker],
                           "color": [color], "label": [label]}, rollover=500)  # fmt: skip

    def clear_marks(self) -> None:
        self.marks.data = {k: [] for k in self.marks.data}

    def show_lines(self, data: dict[str, list[Any]]) -> None:
        """Draw these price lines (see `lines.price_lines`); nothing is sent if unchanged."""
        if data != self.levels.data:
            self.levels.data = data

    def fit_levels(self, on: bool) -> None:
        """Scale the price axis to the prices only, or to the prices and every line."""
        self.figure.y_range.renderers = [*self._prices, *([self._spans] if on else [])]
        # BokehJS does not rescale when only `renderers` changes: new data makes it
        self.levels.data = dict(self.levels.data)
