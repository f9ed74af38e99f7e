"""Import speed of the real Binance captures (hftbacktest) into a fresh DuckDB tick store.

    python benchmarks/ticks_import.py [--runs 5]

Target: 500,000 quotes/s (quotes in the files / wall time of the whole import, trades and
depth-line skipping included). The first run of a process also pays DuckDB's one-time
import of pandas (about 0.6 s) on its first Arrow scan; it is shown apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from workbench.importers.hftbacktest import import_captures
from workbench.store.schema import connect

TARGET = 500_000
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-spot-2024-08-08"


def one_run(files: list[Path], tmp: Path, i: int) -> tuple[float, int, int]:
    con = connect(tmp / f"run{i}.duckdb")
    started = time.perf_counter()
    result = import_captures(con, files)
    seconds = time.perf_counter() - started
    again = time.perf_counter()
    import_captures(con, files)  # everything is there already: dedupe path
    con.close()
    return seconds, result.quotes, int((time.perf_counter() - again) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    files = sorted(DATA.glob("*.ws.gz"))
    if not files:
        raise SystemExit(f"no captures in {DATA}")
    size = sum(f.stat().st_size for f in files)
    with tempfile.TemporaryDirectory() as tmp:
        cold, quotes, _ = one_run(files, Path(tmp), 0)
        runs = [one_run(files, Path(tmp), i + 1) for i in range(args.runs)]
    secs = [r[0] for r in runs]
    med = statistics.median(secs)
    rate = quotes / med
    print(f"files: {len(files)} ({size / 1e6:.1f} MB gzip), {quotes:,} quotes + trades + depth")
    print(f"cold first run: {cold:.3f} s ({quotes / cold:,.0f} quotes/s)")
    print(f"warm runs: median {med:.3f} s, best {min(secs):.3f} s, worst {max(secs):.3f} s")
    dedupe_ms = statistics.median(r[2] for r in runs)
    print(f"re-import of the same files (no new rows): median {dedupe_ms} ms")
    print(f"import: {rate:,.0f} quotes/s (target {TARGET:,}: {rate / TARGET:.2f}x)")


if __name__ == "__main__":
    main()
