"""The replay's equity curve and margin level, under its price chart (Bokeh)."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, DataRange1d, LinearAxis
from bokeh.plotting import figure

from .chart import BG
from .ranges import Placeholder

KEEP_POINTS = 5000


class EquityChart:
    """Equity (USD, right axis) and margin level (%, left axis) over engine time."""

    def __init__(self) -> None:
        self.source = ColumnDataSource({"t": [], "equity": [], "level": []}, name="equity")
        fig = figure(x_axis_type="datetime", height=170, sizing_mode="stretch_width",
                     name="equity_chart", tools="xpan,xwheel_zoom,reset", toolbar_location=None,
                     background_fill_color=BG, border_fill_color=BG, y_axis_location="right",
                     title="Equity (USD) and margin level (%)")  # fmt: skip
        fig.title.text_color = "#b2b5be"
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
        lvl = figures["margin_level"]
        level = float(lvl) if lvl is not None else np.nan
        point = {"t": [t_ms], "equity": [float(figures["equity"])], "level": [level]}
        self._empty[0].show(False)
        if level == level:  # a margin level (NaN without positions)
            self._empty[1].show(False)
        self.source.stream(point, rollover=KEEP_POINTS)
