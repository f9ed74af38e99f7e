"""Notebook 05: a parameter sweep of examples.Bracket into a heat map."""

from __future__ import annotations

from . import code, md

CELLS = [
    md("""
    # A parameter sweep

    `workbench.backtest.sweep` runs one backtest per parameter set (and symbol, and date
    range) on a local pool of worker processes, or in this process when the work is too
    small for processes to pay (`table.plan` says which and why), and returns one polars
    table, one row per run. The strategy is `examples.Bracket`: a position with a take
    profit and a stop loss `band` away, entered again after each close. The grid is band ×
    side × leverage, on the real BTCUSDT captures when they are there, otherwise on
    **simulated** ticks; the first output line says which.
    """),
    code("""
    import math

    import polars as pl
    from bokeh.io import output_notebook, show
    from bokeh.models import ColorBar
    from bokeh.palettes import RdYlGn11
    from bokeh.plotting import figure
    from bokeh.transform import linear_cmap

    from workbench.backtest import sweep
    from workbench.backtest.examples import Bracket
    from workbench.demo import sample_ticks

    output_notebook(hide_banner=True)
    pl.Config.set_tbl_rows(25)
    data, symbol, which = sample_ticks(seed=7, quotes=20_000)  # real captures, or simulated
    print(which)
    """),
    md("""
    ## Run the grid with up to two worker processes

    The ticks are written once as Parquet partitions and each run reads the files it
    needs. A strategy class defined in a notebook cell would reach the workers too (by
    value). (Ray would run the same tasks on a cluster: `ray="auto"`; it takes seconds to
    start, once per process.)
    """),
    code("""
    grid = {
        "band": ["0.0002", "0.0005", "0.001", "0.002"],
        "side": ["long", "short"],
        "leverage": ["10", "50"],
    }
    table = sweep(Bracket, grid, data, symbols=[symbol], workers=2, progress=False)
    points = math.prod(len(values) for values in grid.values())
    print(f"{points} grid points -> {table.height} rows, one backtest each")
    print("ran", table.plan)
    table.select("band", "side", "leverage", "trades", "win_rate", "pnl", "return", "max_drawdown")
    """),
    md("""
    ## Return over the grid

    The margin per trade is fixed (100 USD), so leverage sets the size: for a given band and
    side the same trades happen and the return scales with the leverage. The side decides
    the sign on a market that trends; the band decides how many trades there are.
    """),
    code("""
    cells = table.with_columns(
        row=pl.col("side") + " " + pl.col("leverage") + "x", pct=pl.col("return") * 100
    ).with_columns(label=pl.col("pct").round(3).cast(pl.String) + " %")
    rows = [f"{side} {lev}x" for side in grid["side"] for lev in grid["leverage"]]
    p = figure(x_range=grid["band"], y_range=rows, height=320, width=640, toolbar_location=None)
    p.title.text = f"return of Bracket on {symbol}"
    p.xaxis.axis_label, p.yaxis.axis_label = "band", "side, leverage"
    lim = max(cells["pct"].abs().max(), 1e-9)  # symmetric: 0 % is yellow
    colors = linear_cmap("pct", RdYlGn11[::-1], low=-lim, high=lim)  # red losses, green gains
    source = cells.select("band", "row", "pct", "label").to_dict(as_series=False)
    r = p.rect("band", "row", 1, 1, source=source, fill_color=colors, line_color="white")
    p.text("band", "row", text="label", source=source, text_align="center", text_baseline="middle")
    p.add_layout(ColorBar(color_mapper=r.glyph.fill_color.transform, title="return %"), "right")
    show(p)
    """),
]
