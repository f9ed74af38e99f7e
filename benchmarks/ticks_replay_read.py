"""Read path of a replay: DuckDB -> engine-ready int lists, in time order across symbols.

    python benchmarks/ticks_replay_read.py [--quotes 10000000]

Generates SIMULATED quotes for two symbols into a temporary DuckDB, then times
`store.reader.iter_quotes` (sort by time, Arrow batches, int lists) without the engine.
Target: 2,000,000 quotes/s. For context it also times a full Replay into the real Engine
on the first million quotes (engine cost included).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from workbench.domain import Instrument
from workbench.engine import Engine
from workbench.feeds.synthetic import SyntheticFeed
from workbench.replay import Replay
from workbench.store.reader import iter_quotes
from workbench.store.schema import connect

TARGET = 2_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quotes", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=1, mean_interval_ms=20)
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "bench.duckdb")
        started = time.perf_counter()
        feed.write(con, args.quotes // 2)
        took = time.perf_counter() - started
        print(f"setup: {args.quotes:,} SIMULATED quotes written in {took:.1f} s")
        symbols = list(feed.symbols)
        secs = []
        for _ in range(args.runs):
            started = time.perf_counter()
            n = 0
            for chunk in iter_quotes(con, symbols):
                n += len(chunk.sids)
            secs.append(time.perf_counter() - started)
        med = statistics.median(secs)
        rate = n / med
        print(f"read {n:,} quotes into int lists: median {med:.2f} s, best {min(secs):.2f} s")
        eng = Engine(
            [
                Instrument(s, tick_size=spec.tick)
                for s, spec in zip(symbols, feed.specs, strict=True)
            ]
        )
        t_end = con.execute("SELECT t FROM quotes ORDER BY t LIMIT 1 OFFSET 1000000").fetchall()
        end = t_end[0][0] if t_end else None
        started = time.perf_counter()
        done = Replay(eng, con, symbols, end=end).run()
        wall = time.perf_counter() - started
        print(
            f"context: Replay into the Engine, {done.fed:,} quotes: {done.fed / wall:,.0f} quotes/s"
            " (engine included)"
        )
        con.close()
    print(f"replay read: {rate:,.0f} quotes/s (target {TARGET:,}: {rate / TARGET:.2f}x)")


if __name__ == "__main__":
    main()
