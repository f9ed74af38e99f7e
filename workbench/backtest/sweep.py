"""Parameter sweeps: strategy params x symbols x date ranges, in parallel, one table out.

The ticks are written once as Parquet partitions (one file per symbol and UTC day, see
`partitions`), and each run gets the paths of the days it covers, never a pickled frame.
Runs go to a local process pool (forkserver) by default, or to Ray (`ray="local"`
starts a local Ray, `"auto"` joins a running cluster, `"ray://host:port"` a remote one;
the partitions must then be on storage the workers can read). The table is the same
either way: one row per run (and account), sorted by run.

The strategy factory and the strategies must be picklable: for the process pool a
function or class of a module or of the script that runs the sweep, not of a notebook cell
(Ray ships those by value).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..domain import Instrument
from ..store.reader import TimeLike, to_us
from .partitions import DAY_US, write_partitions
from .stats import STATS_SCHEMA

#: Imported once by the forkserver, so that workers start warm (pandas: DuckDB loads it on
#: its first Arrow export, ~1 s when nothing is byte-compiled).
PRELOAD = ["__main__", "pandas", "workbench.backtest.sweep"]
BASE_COLUMNS: dict[str, Any] = {
    "run": pl.Int64,
    "symbol": pl.String,
    "start": pl.Int64,
    "end": pl.Int64,
    "quotes": pl.Int64,
}


@dataclass(frozen=True)
class Task:
    """One backtest of a sweep: what a worker needs, paths included, no tick data."""

    run: int
    factory: Callable[..., Any]
    params: dict[str, Any]
    symbol: str
    start: int | None
    end: int | None
    files: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def run_task(task: Task) -> list[dict[str, Any]]:
    """Run one task (in a worker): its stats rows, one per account."""
    from .runner import backtest

    res = backtest(
        task.factory(**task.params),
        list(task.files),
        symbols=[task.symbol],
        start=task.start,
        end=task.end,
        **task.options,
    )
    head = {
        "run": task.run,
        **task.params,
        "symbol": task.symbol,
        "start": task.start,
        "end": task.end,
        "quotes": res.quotes,
    }
    return [{**head, **row} for row in res.stats_rows()]


def init_worker() -> None:
    """In a worker process: one DuckDB thread per worker, the workers share the cores."""
    from . import data

    data.THREADS = 1


def param_sets(
    grid: Mapping[str, Any], search: str = "grid", samples: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """The parameter sets: every combination ("grid"), or `samples` random draws
    ("random": a list is drawn from uniformly, a callable is called with a random.Random)."""
    keys = list(grid)
    if search == "grid":
        values = [list(grid[k]) for k in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
    if search != "random":
        raise ValueError(f"search must be 'grid' or 'random', not {search!r}")
    if not samples or samples < 1:
        raise ValueError("a random search needs samples=N (N >= 1)")
    rng = random.Random(seed)
    out = []
    for _ in range(samples):
        out.append(
            {k: grid[k](rng) if callable(grid[k]) else rng.choice(list(grid[k])) for k in keys}
        )
    return out


def sweep(
    strategy_factory: Callable[..., Any],
    grid: Mapping[str, Any],
    data: Any,
    *,
    symbols: Sequence[str] | None = None,
    ranges: Sequence[tuple[TimeLike, TimeLike]] | None = None,
    search: str = "grid",
    samples: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    ray: str | None = None,
    partitions: str | Path | None = None,
    progress: bool = True,
    source: str | None = None,
    instruments: Sequence[Instrument] = (),
    **options: Any,
) -> pl.DataFrame:
    """Backtest `strategy_factory(**params)` for every params x symbol x range.

    data: what `backtest` reads (store, Parquet, captures, DataFrame...), written once to
    `partitions` (default: a temporary folder removed afterwards).
    ranges: (start, end) pairs, half-open; default the whole data.
    workers: processes (default: all cores); 0 runs in this process. ray: None, "local",
    "auto" or "ray://...". options: passed to `backtest` (balance, margin_mode, bars,
    sample_every, accounts...).
    Returns one row per run (and account): run, the params, symbol, start, end (µs),
    quotes, then the stats columns of `Result.stats`.
    """
    sets = param_sets(grid, search, samples, seed)
    clash = {k for s in sets for k in s} & (set(BASE_COLUMNS) | set(STATS_SCHEMA))
    if clash:
        raise ValueError(f"parameter names clash with result columns: {sorted(clash)}")
    spans = [(to_us(a), to_us(b)) for a, b in ranges] if ranges else [(None, None)]
    lo = None if any(a is None for a, _ in spans) else min(a for a, _ in spans)
    hi = None if any(b is None for _, b in spans) else max(b for _, b in spans)
    tmp = None if partitions is not None else tempfile.TemporaryDirectory(prefix="sweep-")
    root = Path(partitions) if partitions is not None else Path(tmp.name)  # type: ignore[union-attr]
    try:
        files, declared = write_partitions(data, root, symbols, lo, hi, source=source)
        opts = {**options, "instruments": [*declared, *instruments]}
        tasks = [
            Task(n, strategy_factory, params, sym, a, b, _days(files[sym], a, b), opts)
            for n, (params, sym, (a, b)) in enumerate(itertools.product(sets, files, spans))
        ]
        if ray is not None:
            from .remote import run_on_ray

            results = run_on_ray(tasks, ray, workers, progress)
        else:
            n = (os.cpu_count() or 1) if workers is None else workers
            results = _run_local(tasks, n, progress)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return table([row for rows in results for row in rows], list(grid))


def _days(days: dict[str, str], start: int | None, end: int | None) -> tuple[str, ...]:
    """The partition files of the days that overlap [start, end)."""
    from datetime import date

    out = []
    for day, path in days.items():
        d0 = (date.fromisoformat(day) - date(1970, 1, 1)).days * DAY_US
        if (end is None or d0 < end) and (start is None or d0 + DAY_US > start):
            out.append(path)
    return tuple(out)


def _run_local(tasks: list[Task], workers: int, progress: bool) -> list[list[dict[str, Any]]]:
    bar = _bar(len(tasks), progress)
    results: dict[int, list[dict[str, Any]]] = {}
    try:
        if workers <= 0 or not tasks:
            for t in tasks:
                results[t.run] = run_task(t)
                bar.update(1)
        else:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            with ProcessPoolExecutor(
                min(workers, len(tasks)), mp_context=ctx, initializer=init_worker
            ) as pool:
                futures = {pool.submit(run_task, t): t.run for t in tasks}
                for f in as_completed(futures):
                    results[futures[f]] = f.result()
                    bar.update(1)
    finally:
        bar.close()
    return [results[t.run] for t in tasks]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="run", desc="sweep")


def table(rows: list[dict[str, Any]], params: list[str]) -> pl.DataFrame:
    """The sweep table: run, params, symbol, start, end, quotes, stats; sorted by run."""
    rows = sorted(rows, key=lambda r: (r["run"], r["account"]))
    cols: list[pl.Series] = [pl.Series("run", [r["run"] for r in rows], dtype=pl.Int64)]
    for p in params:
        cols.append(pl.Series(p, [r.get(p) for r in rows]))
    for name, dtype in {**BASE_COLUMNS, **STATS_SCHEMA}.items():
        if name != "run":
            cols.append(pl.Series(name, [r[name] for r in rows], dtype=dtype))
    return pl.DataFrame(cols)
