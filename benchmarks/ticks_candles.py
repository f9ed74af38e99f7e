"""1-minute mid candles over 10 million quotes of one symbol, in DuckDB SQL.

    python benchmarks/ticks_candles.py [--quotes 10000000]

Generates SIMULATED quotes into a temporary DuckDB, then times `candles.candles_table`
(OHLC with first/last by time and insertion order, trade volume, partial flag).
Target: under 0.5 s for 1m candles over 10M quotes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from workbench.candles import INTERVALS, candles_table
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.schema import connect

TARGET_S = 0.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quotes", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    feed = SyntheticFeed(["BTC_USDC"], seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        con = connect(path)
        started = time.perf_counter()
        feed.write(con, args.quotes)
        took = time.perf_counter() - started
        print(f"setup: {args.quotes:,} SIMULATED quotes written in {took:.1f} s")
        con.close()
        con = connect(path, read_only=True)  # cold: data comes from the file
        sym = feed.symbols[0]
        started = time.perf_counter()
        rows = candles_table(con, sym, "1m").num_rows
        cold = time.perf_counter() - started
        secs = []
        for _ in range(args.runs):
            started = time.perf_counter()
            candles_table(con, sym, "1m")
            secs.append(time.perf_counter() - started)
        for interval in INTERVALS:
            started = time.perf_counter()
            n = candles_table(con, sym, interval).num_rows
            print(f"  {interval:>3}: {n:>9,} candles in {time.perf_counter() - started:.3f} s")
        con.close()
    med = statistics.median(secs)
    print(f"1m candles: {rows:,} rows; first (cold) {cold:.3f} s; warm median {med:.3f} s")
    print(
        f"candles 1m over {args.quotes:,} quotes: {med:.3f} s (target {TARGET_S} s: "
        f"{TARGET_S / med:.2f}x)"
    )


if __name__ == "__main__":
    main()
