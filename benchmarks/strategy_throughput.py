"""The bracket workload as a Strategy through backtest(), against the bare engine.

The workload of engine_vs_backtrader.py: one instrument, the same seeded random walk,
one position at a time, long with a 0.3 % take-profit / stop-loss, re-entered on each
close. Written as a `workbench.backtest` Strategy with no per-quote hook, it runs on the
bulk path (`Engine.feed_quotes`, reacting to its events). The engine-internal figure is
the same work as a bare engine listener, measured in the same run. Also shown: the same
strategy with a (no-op) `on_quote` hook, i.e. one Python call per quote.
The last line is `ratio: <backtest quotes/s / 1,000,000>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from _quotes import random_walk  # noqa: E402

from workbench.backtest import backtest  # noqa: E402
from workbench.backtest.examples import Bracket  # noqa: E402
from workbench.engine import Engine  # noqa: E402
from workbench.store.columns import decimal_array  # noqa: E402

TARGET = 1_000_000
T0 = 1_723_161_254_000_000
SYMBOL = "BTC_USDC"
BAND = Decimal("0.003")
TICK = Decimal("0.1")


def run_engine(ts: list[int], bids: list[int], asks: list[int]) -> tuple[float, list[Any]]:
    """Quotes/s of the bare engine with a re-entering listener, and its events."""
    eng = Engine()
    eng.create_account("main", balance="1000000")
    sid = eng.symbol_id(SYMBOL)
    events: list[dict[str, Any]] = []
    n = 0

    def enter() -> None:
        nonlocal n
        n += 1
        ask = eng.last_quote(SYMBOL)["ask"]  # type: ignore[index]
        eng.open(
            "main",
            SYMBOL,
            "long",
            "10",
            qty="0.1",
            ref=f"o{n}",
            take_profit=(ask * (1 + BAND)).quantize(TICK),
            stop_loss=(ask * (1 - BAND)).quantize(TICK),
        )

    def on_event(ev: dict[str, Any]) -> None:
        events.append(ev)
        if ev["type"] == "closed":
            enter()

    eng.subscribe(on_event)
    start = time.perf_counter()
    eng.feed_quotes([sid], ts[:1], bids[:1], asks[:1])
    enter()
    eng.feed_quotes([sid] * (len(ts) - 1), ts[1:], bids[1:], asks[1:])
    return len(ts) / (time.perf_counter() - start), events


class PerQuoteBracket(Bracket):
    """The same strategy with an on_quote hook: the slow path, a Python call per quote."""

    def on_quote(self, ctx: Any, quote: Any) -> None:
        pass


def run_backtest(table: pa.Table, cls: type = Bracket) -> tuple[float, float, Any]:
    """(quotes/s of backtest(), quotes/s including the stats table, the Result)."""
    start = time.perf_counter()
    res = backtest(cls(qty="0.1"), table, balance="1000000")
    mid = time.perf_counter()
    res.stats  # noqa: B018  (built on first access)
    end = time.perf_counter()
    return res.quotes / (mid - start), res.quotes / (end - start), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quotes", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bids, asks = random_walk(SYMBOL, args.quotes, seed=42, vol_per_quote=0.0001)
    ts = list(range(T0, T0 + args.quotes * 1000, 1000))
    table = pa.table(
        {
            "symbol": pa.array([SYMBOL] * len(ts)),
            "t": pa.array(ts, pa.int64()),
            "bid": decimal_array(bids),
            "ask": decimal_array(asks),
        }
    )
    engine_qps, strat_qps, with_stats, slow_qps = [], [], [], []
    res = events = None
    for _ in range(args.repeat):
        qps, events = run_engine(ts, bids, asks)
        engine_qps.append(qps)
        a, b, res = run_backtest(table)
        strat_qps.append(a)
        with_stats.append(b)
    for _ in range(max(1, args.repeat // 2)):
        slow_qps.append(run_backtest(table, PerQuoteBracket)[0])
    assert res is not None and events is not None
    same = "same events" if res.raw_events == events else "EVENTS DIFFER"
    eng, strat = statistics.median(engine_qps), statistics.median(strat_qps)
    print(f"quotes: {args.quotes:,}, round trips: {int(res.stats['trades'][0]):,} ({same})")
    print(f"engine-internal (bare listener): {eng:>12,.0f} quotes/s")
    print(
        f"backtest(), Strategy, bulk path: {strat:>12,.0f} quotes/s "
        f"({statistics.median(with_stats):,.0f} with the stats table)"
    )
    print(f"backtest(), on_quote per quote:  {statistics.median(slow_qps):>12,.0f} quotes/s")
    print(f"strategy / engine-internal: {strat / eng:.2f}")
    print(f"ratio: {strat / TARGET:.2f} (backtest quotes/s / {TARGET:,} target)")


if __name__ == "__main__":
    main()
