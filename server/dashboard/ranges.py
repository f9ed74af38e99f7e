"""A placeholder point for the auto-ranges of a chart that has no data yet, and the
date axis of a time chart.

A Bokeh `DataRange1d` over renderers without data has no bounds, so BokehJS logs
"could not set initial ranges" at every render of the chart: a replay page waiting for
its first tape did so all the time (1,218 warnings in one benchmark run). While a chart
is empty, its ranges follow one transparent point instead (now, at 0); the first data
takes its place, and an emptied chart gets it back.
"""

from __future__ import annotations

import time
from typing import Any

from bokeh.models import ColumnDataSource, DatetimeTickFormatter


class Placeholder:
    """One transparent point on `fig` (on its `y_range_name` axis), there while `on`."""

    def __init__(self, fig: Any, y_range_name: str = "default") -> None:
        self.source = ColumnDataSource(self._point())
        self.renderer = fig.scatter("x", "y", source=self.source, size=0, alpha=0,
                                    y_range_name=y_range_name)  # fmt: skip
        self.on = True

    @staticmethod
    def _point() -> dict[str, list[float]]:
        return {"x": [time.time() * 1000], "y": [0.0]}

    def show(self, on: bool) -> None:
        """Put the point back (the chart is empty) or take it away (it has data)."""
        if on != self.on:
            self.on = on
            self.source.data = self._point() if on else {"x": [], "y": []}


def date_axis(fig: Any) -> None:
    """Times on `fig`'s x axis as clock times, with the date below the first tick, at any
    zoom: never Bokeh's bare "738500us" or "20ms" of a narrow range."""
    clock = "%H:%M:%S"
    fig.xaxis.formatter = DatetimeTickFormatter(
        microseconds="%H:%M:%S.%f", milliseconds="%H:%M:%S.%3N", seconds=clock,
        minsec=clock, minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", days="%b %d",
        months="%b %Y", years="%Y", context="%Y-%m-%d", context_which="start",
    )  # fmt: skip
