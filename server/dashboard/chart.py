"""A streaming candlestick chart with bid/ask lines (Bokeh), fed by the producer's pushes,
with trade marks, labelled price lines (entries, TP/SL, trailing, liquidation, orders),
moving-average and Bollinger overlays, and a SIMULATED label for prices that are not
the market's."""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, Label, LabelSet, Scatter
from bokeh.plotting import figure

from . import lines
from .chart_history import merge_past
from .overlays import K, N, bands, tail_bands
from .ranges import Placeholder, date_axis

UP, DOWN = "#26a69a", "#ef5350"
BG = "#131722"
KEEP_QUOTES = 1200
KEEP_CANDLES = 600
KEEP_MARKS = 500
MA, BOLL = f"MA {N}", f"Bollinger {N}, {K:g}σ"
MARKS = {
    "long": ("triangle", UP), "short": ("inverted_triangle", DOWN),
    "exit": ("circle", "#90caf9"), "liquidation": ("x", "#ff1744"),
}  # fmt: skip


def _empty_candles() -> dict[str, list[Any]]:
    return {"t": [], "open": [], "high": [], "low": [], "close": [], "color": []}


def _empty_overlays() -> dict[str, list[Any]]:
    return {"t": [], "ma": [], "upper": [], "lower": []}


class PriceChart:
    """Candles of one symbol and frame, bid/ask lines, trade markers, price lines, the
    overlays (toggled by `toggles`) and the SIMULATED label; `panel` shows it all."""

    def __init__(
        self, *, height: int = 380, name: str = "price_chart", keep_marks: int = KEEP_MARKS
    ) -> None:
        self.keep_marks = keep_marks
        self.candles = ColumnDataSource(_empty_candles(), name="candles")
        self.quotes = ColumnDataSource({"t": [], "bid": [], "ask": []}, name="quotes")
        self.marks = ColumnDataSource(
            {"t": [], "price": [], "kind": [], "marker": [], "color": [], "label": []},
            name="marks",
        )
        self.overlays = ColumnDataSource(_empty_overlays(), name="overlays")
        self._marked: set[tuple[float, float, str]] = set()  # marks shown: none twice
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
        date_axis(fig)
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
        band = dict(source=self.overlays, visible=False)
        self.boll = [
            fig.varea("t", "lower", "upper", fill_color="#7e57c2", fill_alpha=0.08, **band),
            fig.line("t", "upper", color="#b39ddb", line_dash="dashed", name="boll_upper", **band),
            fig.line("t", "lower", color="#b39ddb", line_dash="dashed", name="boll_lower", **band),
        ]  # fmt: skip
        self.ma = fig.line("t", "ma", color="#ffca28", line_width=1.5, name="ma_line", **band)
        spans = fig.hspan(y="y", line_color="color", line_dash="dash", line_width="width",
                          source=self.levels, name="price_line_spans")  # fmt: skip
        fig.add_layout(LabelSet(
            x="x", x_units="screen", y="y", text="label", text_color="color", source=self.levels,
            text_font_size="11px", text_baseline="bottom", y_offset=1,
            background_fill_color=BG, background_fill_alpha=0.75, name="price_line_labels",
        ))  # fmt: skip
        self.simulated_label = Label(
            x=8, y=8, x_units="screen", y_units="screen", visible=False, name="simulated_label",
            text="SIMULATED prices: not the market", text_color="#ffb74d",
            text_font_size="13px", text_font_style="bold", background_fill_color=BG,
            background_fill_alpha=0.8,
        )  # fmt: skip
        fig.add_layout(self.simulated_label)
        marks = fig.scatter("t", "price", marker="marker", size=13, color="color",
                            line_color="white", source=self.marks, name="trade_marks")  # fmt: skip
        assert isinstance(marks.glyph, Scatter)
        fig.add_tools(HoverTool(renderers=[marks], tooltips=[("", "@label")]))
        # the price scale follows the prices (old marks from the history do not stretch it);
        # the lines join it only when asked (fit_levels)
        self._empty = Placeholder(fig)  # the ranges of an empty chart (no NaN ranges)
        self._prices = [wicks, self.bars, bid, ask, self._empty.renderer]
        self._spans = spans
        fig.x_range = DataRange1d(renderers=list(self._prices))
        fig.y_range = DataRange1d(renderers=list(self._prices))
        fig.legend.location = "top_right"
        fig.legend.background_fill_alpha = 0.3
        fig.legend.label_text_color = "#b2b5be"
        fig.legend.border_line_alpha = 0
        self.figure = fig
        self.toggles = pn.widgets.CheckBoxGroup(
            options=[MA, BOLL], value=[], inline=True,
            css_classes=["chart-overlays"], margin=(0, 10),
        )  # fmt: skip
        self.toggles.param.watch(self._toggled, "value")
        self.panel = pn.Column(self.toggles, pn.pane.Bokeh(fig), sizing_mode="stretch_width")

    # ------------------------------------------------------------ updates
    def reset(self, candles: dict[str, list[Any]], seconds: int) -> None:
        """Show these candles (a new symbol or frame); the quote lines start over."""
        self._set_candles(candles)
        self.quotes.data = {"t": [], "bid": [], "ask": []}
        self.bars.glyph.width = seconds * 1000 * 0.7  # type: ignore[attr-defined]

    def prepend(self, past: dict[str, list[Any]]) -> None:
        """The candles before the ones shown (their stored history): see `merge_past`."""
        shown = {k: list(v) for k, v in self.candles.data.items() if k != "color"}
        merged = merge_past(past, shown, KEEP_CANDLES)
        if merged != shown:
            self._set_candles(merged)

    def _set_candles(self, candles: dict[str, list[Any]]) -> None:
        data = {k: list(candles[k]) for k in ("t", "open", "high", "low", "close")}
        data["color"] = [UP if c >= o else DOWN for o, c in zip(data["open"], data["close"],
                                                                strict=True)]  # fmt: skip
        self.candles.data = data
        self._empty.show(not data["t"])
        self._overlays_all()

    def candle(self, tail: dict[str, list[Any]]) -> None:
        """Patch the open candle or stream new ones (the producer's last two)."""
        ts = self.candles.data["t"]
        last = ts[-1] if len(ts) else None
        before = len(ts)
        new: dict[str, list[Any]] = _empty_candles()
        patched = 0
        for i, t in enumerate(tail["t"]):
            row = {k: tail[k][i] for k in ("open", "high", "low", "close")}
            color = UP if row["close"] >= row["open"] else DOWN
            if last is not None and t == last:
                n = len(ts) - 1
                self.candles.patch({k: [(n, v)] for k, v in {**row, "color": color}.items()})
                patched = 1
            elif last is None or t > last:
                new["t"].append(t)
                for k, v in row.items():
                    new[k].append(v)
                new["color"].append(color)
        if new["t"]:
            self._empty.show(False)
            self.candles.stream(new, rollover=KEEP_CANDLES)
        if patched or new["t"]:
            self._overlays_tail(before, last, patched, len(new["t"]))

    def quote(self, t_ms: float, bid: float, ask: float) -> None:
        self._empty.show(False)
        self.quotes.stream({"t": [t_ms], "bid": [bid], "ask": [ask]}, rollover=KEEP_QUOTES)

    def simulated(self, on: bool) -> None:
        """Label the chart SIMULATED (its prices are not the market's), or not."""
        if self.simulated_label.visible != on:
            self.simulated_label.visible = on

    # -------------------------------------------------------------- marks
    def mark(self, t_ms: float, price: float, kind: str, label: str) -> None:
        """A marker: entry (triangle), exit (circle), liquidation/stop-out (x); one already
        shown (the same time, price and kind: from the history and a push) is not added."""
        key = (float(t_ms), float(price), kind)
        if key in self._marked:
            return
        self._marked.add(key)
        self.marks.stream(_marks([(t_ms, price, kind, label)]), rollover=self.keep_marks)

    def show_marks(self, marks: list[tuple[float, float, str, str]]) -> None:
        """Show these marks (t ms, price, kind, label) and only these."""
        marks = marks[-self.keep_marks :]
        self._marked = {(float(t), float(p), k) for t, p, k, _ in marks}
        self.marks.data = _marks(marks)

    def add_marks(self, marks: list[tuple[float, float, str, str]]) -> None:
        """These marks (from the history) with those shown, in time order; none twice."""
        d = self.marks.data
        shown = list(zip(d["t"], d["price"], d["kind"], d["label"], strict=True))
        new = [m for m in marks if (float(m[0]), float(m[1]), m[2]) not in self._marked]
        if new:
            self.show_marks(sorted(shown + new, key=lambda m: m[0]))

    def clear_marks(self) -> None:
        self.show_marks([])

    # ------------------------------------------------------------ overlays
    def _toggled(self, _: object = None) -> None:
        on = self.toggles.value
        self.ma.visible = MA in on
        for r in self.boll:
            r.visible = BOLL in on
        self._overlays_all()

    def _overlays_all(self) -> None:
        """The overlays of every candle shown (none while both are off: nothing to send)."""
        if not self.toggles.value:
            if self.overlays.data["t"]:
                self.overlays.data = _empty_overlays()
            return
        d = self.candles.data
        ma, up, lo = bands(d["close"])
        self.overlays.data = {"t": list(d["t"]), "ma": ma, "upper": up, "lower": lo}

    def _overlays_tail(self, before: int, last: Any, patched: int, new: int) -> None:
        """The overlays of the last candle patched and the `new` ones streamed (there were
        `before` candles, the last starting at `last`)."""
        if not self.toggles.value:
            return
        o = self.overlays.data
        if len(o["t"]) != before or (before and o["t"][-1] != last):
            self._overlays_all()  # out of step with the candles: all again
            return
        ma, up, lo = tail_bands(self.candles.data["close"], patched + new)
        if patched:
            at = before - 1
            self.overlays.patch({"ma": [(at, ma[0])], "upper": [(at, up[0])],
                                 "lower": [(at, lo[0])]})  # fmt: skip
        if new:
            self.overlays.stream({"t": list(self.candles.data["t"][-new:]), "ma": ma[-new:],
                                  "upper": up[-new:], "lower": lo[-new:]},
                                 rollover=KEEP_CANDLES)  # fmt: skip

    # --------------------------------------------------------------- lines
    def show_lines(self, data: dict[str, list[Any]]) -> None:
        """Draw these price lines (see `lines.price_lines`); nothing is sent if unchanged."""
        if data != self.levels.data:
            self.levels.data = data

    def fit_levels(self, on: bool) -> None:
        """Scale the price axis to the prices only, or to the prices and every line."""
        self.figure.y_range.renderers = [*self._prices, *([self._spans] if on else [])]
        # BokehJS does not rescale when only `renderers` changes: new data makes it
        self.levels.data = dict(self.levels.data)


def _marks(marks: list[tuple[float, float, str, str]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"t": [], "price": [], "kind": [], "marker": [], "color": [],
                                 "label": []}  # fmt: skip
    for t, price, kind, label in marks:
        marker, color = MARKS.get(kind, ("diamond", "#ffffff"))
        for k, v in zip(out, (t, price, kind, marker, color, label), strict=True):
            out[k].append(v)
    return out
