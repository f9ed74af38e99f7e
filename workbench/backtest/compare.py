"""Several backtests side by side: their stats in one frame, their equity in one plot.

compare([r1, r2])                 # stat | r1 | r2, as the report formats them
compare([r1, r2], wide=False)     # one typed row per result (and account)
compare_equity([r1, r2])          # their equity curves, as % of the start balance
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from .report import stat_table

if TYPE_CHECKING:
    from .result import Result


def _names(results: Sequence[Result], names: Sequence[str] | None) -> list[str]:
    if not results:
        raise ValueError("compare needs at least one result")
    if names is None:
        return [f"r{i + 1}" for i in range(len(results))]
    names = [str(n) for n in names]
    if len(names) != len(results):
        raise ValueError(f"{len(names)} names for {len(results)} results")
    if len(set(names)) != len(names):
        raise ValueError(f"the names must differ: {names}")
    return names


def _rows(results: Sequence[Result], names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, res in zip(names, results, strict=True):
        rows = list(res.stats.iter_rows(named=True))
        for row in rows:
            label = name if len(rows) == 1 else f"{name}:{row['account']}"
            out.append((label, row))
    return out


def compare(
    results: Sequence[Result], names: Sequence[str] | None = None, *, wide: bool = True
) -> pl.DataFrame:
    """The stats of several results side by side.

    wide (default): a `stat` column of labels, then one text column per result (per
    result and account, "name:account", when a result has several accounts), formatted
    as in the report. wide=False: the stats frames stacked, typed (Decimal money, floats),
    with a first column `name`. names: default r1, r2, ...
    """
    labelled = _rows(results, _names(results, names))
    if wide:
        return stat_table(dict(labelled))
    frames = [
        res.stats.select(pl.lit(name).alias("name"), pl.all())
        for name, res in zip(_names(results, names), results, strict=True)
    ]
    return pl.concat(frames, how="vertical")


def compare_equity(
    results: Sequence[Result], names: Sequence[str] | None = None, *, width: int = 900
) -> Any:
    """A bokeh figure overlaying the equity curves, each as % return on its start balance."""
    from bokeh.plotting import figure

    from .plot import PALETTE

    fig = figure(
        name="compare_equity",
        title="equity (% return on the start balance)",
        x_axis_type="datetime",
        width=width,
        height=320,
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    i = 0
    for name, res in zip(_names(results, names), results, strict=True):
        for account, (_, start) in res.accounts.items():
            if not start:  # no % of a zero balance
                continue
            rows = res.equity.filter(pl.col("account") == account)
            pct = ((rows["equity"].cast(pl.Float64) / float(start)) - 1) * 100
            label = name if len(res.accounts) == 1 else f"{name}:{account}"
            fig.line(
                rows["time"].to_list(),
                pct.to_list(),
                color=PALETTE[i % len(PALETTE)],
                legend_label=label,
                line_width=2,
            )
            i += 1
    fig.legend.click_policy = "hide"
    return fig
