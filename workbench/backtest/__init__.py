"""Backtests and parameter sweeps of strategies on the one workbench engine.

    from workbench.backtest import Strategy, backtest, sweep

    class Bracket(Strategy):
        def on_start(self, ctx): self.enter(ctx)
        def on_event(self, ctx, ev):
            if ev["type"] == "closed":
                self.enter(ctx)
        def enter(self, ctx):
            ask = ctx.last_quote("BTC_USDC")["ask"]
            ctx.open("BTC_USDC", "long", "10", qty="0.1",
                     take_profit=(ask * Decimal("1.003")).quantize(Decimal("0.1")),
                     stop_loss=(ask * Decimal("0.997")).quantize(Decimal("0.1")))

    result = backtest(Bracket, "data/workbench.duckdb", symbols=["BTC_USDC"])
    result.stats, result.closed, result.equity, result.plot()

Every fill, PnL, margin figure and liquidation comes from the engine's events; the
strategy only issues the engine's commands for its own account (`ctx.open`, `order`,
`close`, `cancel`, `modify`: see `context`), each returning a `Ticket` with the engine's
answer.
"""

from .bars import interval_us
from .compare import compare, compare_equity
from .data import open_source
from .diagnose import NoQuotesError, NoTradesWarning
from .partitions import write_partitions
from .result import Result
from .runner import backtest
from .strategy import Bar, Context, Strategy, Tick
from .sweep import sweep
from .tickets import Ticket

__all__ = [
    "Bar",
    "Context",
    "NoQuotesError",
    "NoTradesWarning",
    "Result",
    "Strategy",
    "Tick",
    "Ticket",
    "backtest",
    "compare",
    "compare_equity",
    "interval_us",
    "open_source",
    "sweep",
    "write_partitions",
]
