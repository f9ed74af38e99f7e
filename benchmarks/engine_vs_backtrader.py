"""Our engine against backtrader on the same work, in the same run.

200,000 quotes of one instrument (a seeded random walk), one position at a time:
market entry long with a 0.3 % take-profit / 0.3 % stop-loss bracket, re-entered on
exit. backtrader gets each quote as a bar (OHLC = mid); our engine gets bid/ask.
The last line is `ratio: <our quotes/s / backtrader's>`.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _quotes import random_walk  # noqa: E402

from workbench.engine import Engine  # noqa: E402

T0 = 1_723_161_254_000_000
SYMBOL = "BTC_USDC"
BAND = Decimal("0.003")
TICK = Decimal("0.1")


def run_ours(bids: list[int], asks: list[int]) -> tuple[float, int]:
    """Quotes/s and number of round trips of our engine with a re-entering listener."""
    eng = Engine()
    eng.create_account("bench", balance="1000000")
    sid = eng.symbol_id(SYMBOL)
    trades = 0

    def enter() -> None:
        q = eng.last_quote(SYMBOL)
        assert q is not None
        ask = q["ask"]
        eng.open(
            "bench", SYMBOL, "long", "10", qty="0.1",
            take_profit=(ask * (1 + BAND)).quantize(TICK),
            stop_loss=(ask * (1 - BAND)).quantize(TICK),
        )  # fmt: skip

    def on_event(ev: dict) -> None:
        nonlocal trades
        if ev["type"] == "closed":
            trades += 1
            enter()

    eng.subscribe(on_event)
    n = len(bids)
    ts = list(range(T0, T0 + n * 1000, 1000))
    start = time.perf_counter()
    eng.feed_quotes([sid], ts[:1], bids[:1], asks[:1])
    enter()
    eng.feed_quotes([sid] * (n - 1), ts[1:], bids[1:], asks[1:])
    elapsed = time.perf_counter() - start
    return n / elapsed, trades


def run_backtrader(bids: list[int], asks: list[int]) -> tuple[float, int]:
    """Bars/s and number of round trips of backtrader on the same quotes."""
    import backtrader as bt
    import pandas as pd

    mids = [(b + a) / 2e8 for b, a in zip(bids, asks, strict=True)]
    index = pd.date_range("2024-08-08", periods=len(mids), freq="ms")
    frame = pd.DataFrame({"open": mids, "high": mids, "low": mids, "close": mids,
                          "volume": 1.0}, index=index)  # fmt: skip

    class Bracket(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.live: list = []
            self.trades = 0

        def next(self) -> None:
            if not self.position and not self.live:
                price = self.data.close[0]
                self.live = self.buy_bracket(
                    size=0.1, exectype=bt.Order.Market,
                    limitprice=price * 1.003, stopprice=price * 0.997,
                )  # fmt: skip

        def notify_order(self, order: bt.Order) -> None:
            done = (order.Completed, order.Canceled, order.Margin, order.Rejected)
            if order.status in done and order in self.live and not order.alive():
                self.live = [o for o in self.live if o.alive()]

        def notify_trade(self, trade: bt.Trade) -> None:
            if trade.isclosed:
                self.trades += 1

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(Bracket)
    cerebro.broker.setcash(1_000_000)
    start = time.perf_counter()
    strat = cerebro.run()[0]
    elapsed = time.perf_counter() - start
    return len(mids) / elapsed, strat.trades


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quotes", type=int, default=200_000)
    args = ap.parse_args()
    bids, asks = random_walk(SYMBOL, args.quotes, seed=42, vol_per_quote=0.0001)
    ours, our_trades = run_ours(bids, asks)
    print(f"workbench engine: {ours:>12,.0f} quotes/s  ({our_trades:,} round trips)")
    theirs, bt_trades = run_backtrader(bids, asks)
    print(f"backtrader:       {theirs:>12,.0f} bars/s    ({bt_trades:,} round trips)")
    print(f"ratio: {ours / theirs:.1f}")


if __name__ == "__main__":
    main()
