"""`workbench import`: load recorded, tabular or SIMULATED quotes into the tick store.

    workbench import hftbacktest FILES... [--db data/workbench.duckdb]
    workbench import csv FILE [--symbol SYM] [--db ...]
    workbench import parquet FILE [--symbol SYM] [--db ...]
    workbench import synthetic [--symbol BTC_USDC ...] [--quotes N] [--seed S] [--db ...]

Importing the same data twice adds no rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..money import BadNumber
from ..store.reader import to_us
from ..store.schema import DEFAULT_DB, connect
from . import ImportResult
from .binance_ws import BadFrame
from .tabular import TableError


def add_parser(subparsers: Any) -> None:
    """Add `import` and its formats to the `workbench` command."""
    p = subparsers.add_parser("import", help="import market data into the tick store")
    sub = p.add_subparsers(dest="format", required=True, metavar="FORMAT")

    h = sub.add_parser("hftbacktest", help="Binance captures recorded by hftbacktest (.ws.gz)")
    h.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _common(h)
    h.set_defaults(func=_run_hftbacktest)

    for fmt in ("csv", "parquet"):
        t = sub.add_parser(fmt, help=f"quotes from a {fmt.upper()} file (symbol,t,bid,ask,...)")
        t.add_argument("file", type=Path)
        t.add_argument("--symbol", help="the symbol of every row (when there is no column)")
        t.add_argument("--source", help=f"source label of the rows (default {fmt})")
        _common(t)
        t.set_defaults(func=_run_tabular, fmt=fmt)

    s = sub.add_parser("synthetic", help="generate SIMULATED quotes for offline use")
    s.add_argument(
        "--symbol", action="append", dest="symbols", metavar="SYM",
        help="base symbol, stored as SIM_<SYM>; repeat for more (default: BTC, ETH, SOL)",
    )  # fmt: skip
    s.add_argument("--quotes", type=int, default=100_000, help="quotes per symbol")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--start", default="2024-01-01T00:00:00Z", help="ISO time of the first quote")
    s.add_argument("--interval-ms", type=float, default=100.0, help="mean time between quotes")
    _common(s)
    s.set_defaults(func=_run_synthetic)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"tick store (default {DEFAULT_DB})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_hftbacktest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .hftbacktest import import_captures

    missing = [f for f in args.files if not f.is_file()]
    if missing:
        return _fail(f"no such file: {', '.join(map(str, missing))}")
    total = sum(f.stat().st_size for f in args.files)
    started = time.perf_counter()
    with tqdm(
        total=total, unit="B", unit_scale=True, desc="import", disable=args.no_progress
    ) as bar:
        try:
            with connect(args.db) as con:
                result = import_captures(con, args.files, progress=bar.update)
        except (BadFrame, BadNumber, OSError) as e:
            return _fail(str(e))
    return _report(result, args.db, time.perf_counter() - started, f"{len(args.files)} file(s)")


def _run_tabular(args: argparse.Namespace) -> int:
    from .tabular import import_quotes_file

    started = time.perf_counter()
    try:
        with connect(args.db) as con:
            result = import_quotes_file(
                con, args.file, fmt=args.fmt, symbol=args.symbol, source=args.source
            )
    except (TableError, BadNumber, OSError) as e:
        return _fail(str(e))
    return _report(result, args.db, time.perf_counter() - started, str(args.file))


def _run_synthetic(args: argparse.Namespace) -> int:
    from ..feeds.synthetic import DEFAULT_SPECS, LABEL, SyntheticFeed

    if args.quotes <= 0:
        return _fail("--quotes must be positive")
    try:
        start = to_us(args.start)
    except ValueError as e:
        return _fail(f"--start: {e}")
    assert start is not None
    specs = args.symbols or [s.symbol for s in DEFAULT_SPECS]
    feed = SyntheticFeed(specs, seed=args.seed, start_us=start, mean_interval_ms=args.interval_ms)
    started = time.perf_counter()
    with connect(args.db) as con:
        result = feed.write(con, args.quotes)
    print(f"{LABEL} data: symbols {', '.join(feed.symbols)} (source 'synthetic')")
    return _report(result, args.db, time.perf_counter() - started, f"seed {args.seed}")


def _report(result: ImportResult, db: Path, seconds: float, what: str) -> int:
    rate = f", {result.quotes_read / seconds:,.0f} quotes/s" if seconds > 0 else ""
    print(f"{what}: {result} into {db} in {seconds:.2f} s{rate}")
    return 0


def _fail(message: str) -> int:
    print(f"workbench import: error: {message}", file=sys.stderr)
    return 1
