"""Notebook 03: a strategy backtested on the real captures, or on simulated ticks."""

from __future__ import annotations

from . import code, md

CELLS = [
    md("""
    # A strategy on the real captures (or on simulated ticks)

    `workbench.backtest` runs a strategy through the same engine as the server. Here: the
    real Binance BTCUSDT captures of 2024-08-08/09 when they are beside the repository
    (`workbench.demo.shared_captures()`: `../shared/data`, or `$WORKBENCH_SHARED_DATA`),
    read directly from their `.ws.gz` files; otherwise **simulated** ticks from
    `SyntheticFeed`. The first output line says which.
    """),
    code("""
    from decimal import Decimal

    import polars as pl
    from bokeh.io import output_notebook, show

    from workbench.backtest import Strategy, backtest
    from workbench.demo import sample_ticks

    output_notebook(hide_banner=True)
    pl.Config.set_tbl_rows(25)
    # the real captures when they are beside the repository (imported in memory by
    # backtest), else simulated ticks; the line printed says which
    data, symbol, which = sample_ticks(seed=7, quotes=20_000)
    print(which)
    """),
    md("""
    ## The strategy

    A bracket: every position gets a take profit and a stop loss `band` away from its open
    price. After a close it enters again, the same way after a win and the other way after
    a loss. Hooks receive the engine's events; commands issued from them run right after
    the quote that caused the event.
    """),
    code("""
    class FlipOnLoss(Strategy):
        def __init__(self, band="0.0005", leverage="20", margin="100"):
            self.band, self.leverage, self.margin = Decimal(band), leverage, margin
            self.side = "long"

        def on_start(self, ctx):
            self.enter(ctx)

        def on_event(self, ctx, ev):
            if ev["type"] == "closed":
                if Decimal(ev["pnl"]) < 0:
                    self.side = "short" if self.side == "long" else "long"
                self.enter(ctx)

        def enter(self, ctx):
            symbol = ctx.symbols[0]
            q, tick = ctx.last_quote(symbol), ctx.instrument(symbol).tick_size
            price = q["ask"] if self.side == "long" else q["bid"]
            up, down = price * (1 + self.band), price * (1 - self.band)
            tp, sl = (up, down) if self.side == "long" else (down, up)
            ctx.open(
                symbol,
                self.side,
                self.leverage,
                margin=self.margin,
                take_profit=tp.quantize(tick),
                stop_loss=sl.quantize(tick),
            )


    result = backtest(FlipOnLoss(), data, symbols=[symbol])
    print(result)
    result.summary()  # result.stats has the typed values
    """),
    md("## Every closed position (exact PnL)"),
    code("""
    result.closed.select("ref", "side", "open_price", "close_price", "reason", "qty", "pnl", "net")
    """),
    code("show(result.plot())"),
    md("""
    ## Reading the numbers

    The take profit and the stop loss are the same distance from the open price, so a win
    and a loss are about the same size (a quote that jumps past a trigger fills beyond it).
    The spread shows in the odds instead: a long opens at the ask but closes at the bid, so
    the bid must travel the band *plus* the spread to take the profit and the band *minus*
    the spread to stop out. With wins and losses of equal size, breaking even needs a win
    rate of about 50 %. Leverage does not move the triggers; it only sets the size bought
    with the same margin. The annual figures (Sharpe, Sortino, CAGR...) come from daily
    returns: minutes of data have none, and the Notes row says so.
    """),
    code("""
    def usd(x):
        return f"{x.normalize():f} USD"


    s = result.stats.row(0, named=True)
    nets = result.closed["net"].to_list()  # exact Decimals
    wins, losses = [n for n in nets if n > 0], [-n for n in nets if n <= 0]
    avg_win = sum(wins) / len(wins) if wins else Decimal(0)
    avg_loss = sum(losses) / len(losses) if losses else Decimal(0)
    print(
        f"{s['trades']} trades: {s['take_profits']} take profits, {s['stop_losses']} stop "
        f"losses, {s['liquidations']} liquidations; win rate {s['win_rate']:.0%}.\\n"
        f"Average win {usd(round(avg_win, 4))}, average loss {usd(round(avg_loss, 4))}: "
        f"breaking even needs a win rate of {avg_loss / (avg_win + avg_loss):.0%}.\\n"
        f"PnL {usd(s['pnl'])} on {usd(s['start_balance'])}: return {s['return']:+.3%}, "
        f"max drawdown {s['max_drawdown']:.3%} ({usd(s['max_drawdown_usd'])}), "
        f"over {result.quotes:,} quotes."
    )
    """),
]
