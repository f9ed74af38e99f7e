"""A parameter sweep on 1 worker vs 2 workers of the local process pool; small sweeps; Ray.

The sweep: the bracket strategy (`workbench.backtest.examples.Bracket`) over a grid of
8 parameter sets x 2 SIMULATED symbols x 2 UTC days = 32 runs, ticks written once as
Parquet partitions (one file per symbol and UTC day) that the workers read, on the pool
(`mode="pool"`). Timed after a warm-up that starts the pool's forkserver (its cold start
is printed apart); medians of alternating runs. Another busy process on this 2-core
machine takes a worker's core: the load average is printed at the end.
Then a small sweep (many tiny runs of a few hundred quotes): in this process, on the
pool forced, and as the sweep chooses by itself (`mode=None`: it should stay in this
process). Then Ray: the first sweep with `ray="local"` starts Ray (seconds), a second
sweep in the same process reuses it: its time to a result (a one-run sweep, target
< 1 s) and the per-run overhead against the pool.
The last line is `ratio: <1-worker time / 2-worker time>` (target >= 1.7 on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from workbench.backtest import remote, sweep, write_partitions
from workbench.backtest.examples import Bracket
from workbench.feeds.synthetic import SyntheticFeed

TARGET = 1.7
FIRST_RESULT_TARGET = 1.0
DAY = 86_400_000_000
START = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, where the synthetic feed starts
GRID = {"band": ["0.001", "0.002", "0.003", "0.004"], "leverage": ["10", "50"]}
RANGES = [(START, START + DAY), (START + DAY, START + 2 * DAY)]
ONE = {"band": ["0.002"], "leverage": ["10"]}


def timed(parts: Path, workers: int, **kw: object) -> tuple[float, int, str]:
    """(seconds, runs, where the sweep ran) of one sweep over the partitions."""
    start = time.perf_counter()
    table = sweep(
        Bracket,
        kw.pop("grid", GRID),
        parts,
        partitions=parts,
        workers=workers,
        progress=False,
        **kw,
    )  # type: ignore[arg-type]
    mode = table.plan.mode if table.plan is not None else "?"
    return time.perf_counter() - start, table["run"].n_unique(), mode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interval-ms", type=float, default=400.0, help="mean time between quotes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiny-runs", type=int, default=48)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        parts = Path(tmp)
        feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=1, mean_interval_ms=args.interval_ms)
        per_day = int(DAY / 1000 / args.interval_ms)
        files, _ = write_partitions(
            feed.generate(2 * per_day).to_arrow(), parts, end=START + 2 * DAY
        )
        n_quotes = 2 * 2 * per_day
        print(
            f"data: {n_quotes:,} SIMULATED quotes in {sum(len(d) for d in files.values())} "
            f"Parquet partitions"
        )
        tiny_one = {"ranges": [(START, START + 60_000_000)], "symbols": ["SIM_BTC_USDC"]}
        cold, _, _ = timed(parts, 2, grid=ONE, mode="pool", **tiny_one)
        print(f"pool cold start (forkserver, imports) + 1 tiny run: {cold:.2f} s")
        warm, _, _ = timed(parts, 2, grid=ONE, mode="pool", **tiny_one)
        print(f"second sweep on the pool, 1 tiny run (time to its result): {warm:.2f} s")
        one, two = [], []
        for _ in range(args.repeat):
            t1, runs, _ = timed(parts, 1, ranges=RANGES, mode="pool")
            t2, _, _ = timed(parts, 2, ranges=RANGES, mode="pool")
            one.append(t1)
            two.append(t2)
        t1, t2 = statistics.median(one), statistics.median(two)
        print(
            f"sweep of {runs} runs ({n_quotes * 8:,} quotes in all): 1 worker {t1:.2f} s "
            f"({n_quotes * 8 / t1:,.0f} quotes/s), 2 workers {t2:.2f} s "
            f"({n_quotes * 8 / t2:,.0f} quotes/s)"
        )
        tiny = {"band": [f"0.00{i}" for i in range(1, 7)], "leverage": ["10", "20"]}
        n_ranges = args.tiny_runs // (len(tiny["band"]) * len(tiny["leverage"]) * 2)
        small = [
            (START + k * 600_000_000, START + k * 600_000_000 + 60_000_000)
            for k in range(max(1, n_ranges))
        ]
        inproc, runs_tiny, _ = timed(parts, 0, grid=tiny, ranges=small)
        pool, _, _ = timed(parts, 2, grid=tiny, ranges=small, mode="pool")
        auto, _, chosen = timed(parts, 2, grid=tiny, ranges=small)
        per_run = inproc / runs_tiny
        print(
            f"{runs_tiny} tiny runs: in-process {inproc:.2f} s ({per_run * 1e3:.1f} ms/run); "
            f"pool(2) forced {pool:.2f} s, overhead "
            f"{(pool * 2 / runs_tiny - per_run) * 1e3:.1f} ms/run; chosen by the sweep: "
            f"{chosen}, {auto:.2f} s"
        )
        if not args.no_ray:
            start = time.perf_counter()
            timed(parts, 2, grid=ONE, mode="ray", ray="local", **tiny_one)
            print(f"first Ray sweep (starts a local Ray, 2 CPUs) + 1 tiny run: "
                  f"{time.perf_counter() - start:.1f} s")  # fmt: skip
            second, _, ran = timed(parts, 2, grid=ONE, mode="ray", ray="local", **tiny_one)
            print(
                f"second Ray sweep in this process, 1 tiny run (time to its result, ran on "
                f"{ran}): {second:.2f} s (target < {FIRST_RESULT_TARGET:.0f} s)"
            )
            on_ray, _, _ = timed(parts, 2, grid=tiny, ranges=small, mode="ray", ray="local")
            remote.shutdown()
            print(
                f"ray(2): {on_ray / runs_tiny * 1e3:.1f} ms/run wall, overhead "
                f"{(on_ray * 2 / runs_tiny - per_run) * 1e3:.1f} ms/run; "
                f"ray / pool wall: {on_ray / pool:.2f}"
            )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average at the end (1, 5, 15 min): {load} on {os.cpu_count()} cores")
        print(f"ratio: {t1 / t2:.2f} (1 worker / 2 workers, target {TARGET})")


if __name__ == "__main__":
    main()
