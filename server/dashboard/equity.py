"""The replay's equity curve and margin level, under its price chart (Bokeh)."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, DataRange1d, LinearAxis
from bokeh.plotting import figure

from .chart import BG
from .ranges import Placeholder, date_axis
from .sampling import Point, thin

KEEP_POINTS = 5000  # past this, the whole curve is thinned to half (its dips kept)


class EquityChart:
    """Equity (USD, right axis) and margin level (%, left axis) over engine time."""

    def __init__(self) -> None:
        self.source = ColumnDataSource({"t": [], "equity": [], "level": []}, name="equity")
        fig = figure(x_axis_type="datetime", height=170, sizing_mode="stretch_width",
                     name="equity_chart", tools="xpan,xwheel_zoom,reset", toolbar_location=None,
                     background_fill_color=BG, border_fill_color=BG, y_axis_location="right",
                     title="Equity (USD) and margin level (%)")  # fmt: skip
        fig.title.text_color = "#b2b5be"
        date_axis(fig)
        fig.xaxis.major_label_text_color = "#b2b5be"
        fig.grid.grid_line_color = "#2a2e39"
        eq = fig.line("t", "equity", source=self.source, color="#2962ff", line_width=2,
                      legend_label="equity")  # fmt: skip
        lvl = fig.line("t", "level", source=self.source, color="#ffb74d", alpha=0.7,
                       y_range_name="level", legend_label="margin level %")  # fmt: skip
        fig.extra_y_ranges = {"level": DataRange1d()}
        # the ranges of an empty chart follow these (no NaN ranges)
        self._empty = (Placeholder(fig), Placeholder(fig, "level"))
        fig.y_range = DataRange1d(renderers=[eq, self._empty[0].renderer])
        fig.extra_y_ranges["level"].renderers = [lvl, self._empty[1].renderer]
        fig.add_layout(LinearAxis(y_range_name="level"), "left")
        fig.legend.location = "top_left"
        fig.legend.background_fill_alpha = 0.3
        fig.legend.label_text_color = "#b2b5be"
        fig.yaxis.formatter.use_scientific = False  # type: ignore[attr-defined]
        self.figure = fig

    def clear(self) -> None:
        self.source.data = {"t": [], "equity": [], "level": []}
        for p in self._empty:
            p.show(True)

    def add(self, t_ms: float, figures: dict[str, Any]) -> None:
        """One point: the account's figures at engine time t (ms)."""
        self.extend([(t_ms, figures)])

    def extend(self, points: list[Point]) -> None:
        """Points (t ms, figures) in time order, in one update; past `KEEP_POINTS` the
        whole curve is thinned (see sampling.thin): it is kept from the start, not cut."""
        if not points:
            return
        new = _columns(points)
        self._empty[0].show(False)
        if any(v == v for v in new["level"]):  # a margin level (NaN without positions)
            self._empty[1].show(False)
        d = self.source.data
        if len(d["t"]) + len(points) <= KEEP_POINTS:
            self.source.stream(new)
            return
        kept = [(t, {"equity": e, "margin_level": None if lv != lv else lv})
                for t, e, lv in zip(d["t"], d["equity"], d["level"], strict=True)]  # fmt: skip
        self.source.data = _columns(thin(kept + list(points), KEEP_POINTS // 2))


def _columns(points: list[Point]) -> dict[str, list[float]]:
    """The chart's columns of these points (NaN for no margin level)."""
    out: dict[str, list[float]] = {"t": [], "equity": [], "level": []}
    for t_ms, figures in points:
        lvl = figures["margin_level"]
        out["t"].append(float(t_ms))
        out["equity"].append(float(figures["equity"]))
        out["level"].append(np.nan if lvl is None or lvl != lvl else float(lvl))
    return out
