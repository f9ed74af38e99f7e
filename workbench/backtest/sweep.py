"""Parameter sweeps: strategy params x symbols x date ranges, in parallel, one table out.

The ticks are written once as Parquet partitions (one file per symbol and UTC day, see
`partitions`), and each run gets the paths of the days it covers, never a pickled frame.
Runs go where they pay (`plan`): in this process when the work is small, else to the
local process pool (`pool`: forkserver workers; a strategy of a notebook cell or of
`__main__` is shipped by value) or to Ray (`remote`: `ray="local"` starts a local Ray
once per process, `"auto"` joins a running cluster, `"ray://host:port"` a remote one;
the partitions must then be on storage the workers can read). `mode=` forces a choice.
The table is the same either way: one row per run (and account), sorted by run.
A run's exception is raised in the caller as the same exception, naming the run.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from ..domain import Instrument
from ..store.reader import TimeLike, to_us
from .diagnose import NoQuotesError, declared_symbols, span_text
from .partitions import DAY_US, write_partitions
from .plan import FAST_QPS, RUN_S, Estimate, SweepPlan, quotes_of, saving, start_cost
from .stats import STATS_SCHEMA
from .tasks import Outcome, Task, raise_here, run_task

log = logging.getLogger("workbench.backtest")
MODES = ("inline", "pool", "ray")
BASE_COLUMNS: dict[str, Any] = {
    "run": pl.Int64,
    "symbol": pl.String,
    "start": pl.Int64,
    "end": pl.Int64,
    "quotes": pl.Int64,
}
END_COLUMNS: dict[str, Any] = {"warning": pl.String}


class SweepTable(pl.DataFrame):
    """A sweep's table (a polars DataFrame); `plan` says where the runs went and why."""

    plan: SweepPlan | None = None


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
    symbols: Sequence[str | Sequence[str]] | None = None,
    ranges: Sequence[tuple[TimeLike, TimeLike]] | None = None,
    search: str = "grid",
    samples: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    mode: str | None = None,
    ray: str | None = None,
    partitions: str | Path | None = None,
    progress: bool = True,
    source: str | None = None,
    instruments: Sequence[Instrument] = (),
    **options: Any,
) -> SweepTable:
    """Backtest `strategy_factory(**params)` for every params x symbols x range.

    data: what `backtest` reads (store, Parquet, captures, DataFrame...), written once to
    `partitions` (default: a temporary folder removed afterwards).
    symbols: one run per symbol; an entry that is a list or tuple is run together. A
    strategy declaring `symbols = (...)` gets them together in each run (default: its
    own; a plain list given replaces them).
    ranges: (start, end) pairs, half-open; default the whole data.
    workers: processes (default: all cores); 0 runs in this process. mode: None (choose:
    in this process when processes would not pay, see `plan`), "inline", "pool" or
    "ray". ray: None, "local", "auto" or "ray://..." (implies mode "ray" unless inline).
    options: passed to `backtest` (balance, margin_mode, bars, sample_every, accounts...).
    Returns one row per run (and account): run, the params, symbol (those run together
    joined by commas), start, end (µs), quotes, the stats columns of `Result.stats`, and
    `warning` (why a run made no trades, or null). `table.plan` says where runs went.
    """
    backend, n_workers = _mode(mode, ray, workers)
    sets = param_sets(grid, search, samples, seed)
    clash = {k for s in sets for k in s} & (set(BASE_COLUMNS) | set(STATS_SCHEMA) | {"warning"})
    if clash:
        raise ValueError(f"parameter names clash with result columns: {sorted(clash)}")
    spans = [(to_us(a), to_us(b)) for a, b in ranges] if ranges else [(None, None)]
    lo = None if any(a is None for a, _ in spans) else min(a for a, _ in spans)
    hi = None if any(b is None for _, b in spans) else max(b for _, b in spans)
    declared = _declared(strategy_factory, sets)
    wanted = _wanted(symbols, declared)
    flat = list(dict.fromkeys(s for g in wanted for s in g)) if wanted is not None else None
    tmp = None if partitions is not None else tempfile.TemporaryDirectory(prefix="sweep-")
    root = Path(partitions) if partitions is not None else Path(tmp.name)  # type: ignore[union-attr]
    try:
        files, found = write_partitions(data, root, flat, lo, hi, source=source)
        groups = wanted if wanted is not None else [(s,) for s in files]
        opts = {**options, "instruments": [*found, *instruments]}
        tasks = []
        for n, (params, group, (a, b)) in enumerate(itertools.product(sets, groups, spans)):
            days = tuple(p for s in group for p in _days(files, s, a, b))
            tasks.append(Task(n, strategy_factory, params, group, a, b, days, opts))
        on_ray = ray is not None or backend == "ray"
        ray_at = (ray or "local", workers) if on_ray else None  # where, at most how many
        rows, plan = _execute(tasks, backend, n_workers, ray_at, progress)
    finally:
        if tmp is not None:
            tmp.cleanup()
    log.info("sweep of %d runs: %s", len(tasks), plan)
    out = SweepTable(table(rows, list(grid)))
    out.plan = plan
    _warn(out)
    return out


def _mode(mode: str | None, ray: str | None, workers: int | None) -> tuple[str | None, int]:
    """(the forced mode or None, the number of workers), checked."""
    if mode not in (None, "auto", *MODES):
        raise ValueError(f"mode must be None, 'inline', 'pool' or 'ray', not {mode!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 0):
        raise ValueError(f"workers must be 0 (this process) or more, not {workers!r}")
    if mode == "pool" and ray is not None:
        raise ValueError("mode='pool' runs on the local pool: leave ray= out (or mode='ray')")
    n = (os.cpu_count() or 1) if workers is None else workers
    if mode in ("pool", "ray") and n == 0:
        raise ValueError(f"mode={mode!r} needs workers >= 1 (workers=0 runs in this process)")
    if mode == "auto" or mode is None:
        return ("inline" if n == 0 else None), n
    return mode, n


def _declared(factory: Callable[..., Any], sets: list[dict[str, Any]]) -> tuple[str, ...] | None:
    """The symbols the strategy declares: on the factory (a class), else on one instance."""
    if isinstance(factory, type):
        return declared_symbols(factory)
    found = declared_symbols(factory)
    if found is None and sets:
        found = declared_symbols(factory(**sets[0]))
    return found


def _wanted(
    symbols: Sequence[str | Sequence[str]] | None, declared: tuple[str, ...] | None
) -> list[tuple[str, ...]] | None:
    """The groups of symbols run together (None: each symbol of the data alone)."""
    if isinstance(symbols, str):
        raise TypeError(f"symbols must be a list of symbols, such as [{symbols!r}]")
    if symbols is None:
        return [declared] if declared else None
    if not symbols:
        raise ValueError("symbols is empty: give at least one symbol (None: all of them)")
    if declared and all(isinstance(s, str) for s in symbols):
        return [tuple(symbols)]  # type: ignore[arg-type]
    groups = []
    for s in symbols:
        group = (s,) if isinstance(s, str) else tuple(s)
        if not group or not all(isinstance(x, str) for x in group):
            raise TypeError(f"a symbols entry must be a symbol or a list of symbols, not {s!r}")
        groups.append(group)
    return groups


def _days(
    files: dict[str, dict[str, str]], symbol: str, start: int | None, end: int | None
) -> tuple[str, ...]:
    """The partition files of `symbol` on the days that overlap [start, end)."""
    from datetime import date

    out = []
    for day, path in files[symbol].items():
        d0 = (date.fromisoformat(day) - date(1970, 1, 1)).days * DAY_US
        if (end is None or d0 < end) and (start is None or d0 + DAY_US > start):
            out.append(path)
    if not out:
        days = list(files[symbol])
        have = f"on {days[0]} to {days[-1]} (UTC days)" if days else "none"
        raise NoQuotesError(
            f"no quotes for {symbol} in {span_text(start, end)}: its quotes are {have}"
        )
    return tuple(out)


def _execute(
    tasks: list[Task],
    mode: str | None,
    workers: int,
    ray_at: tuple[str, int | None] | None,
    progress: bool,
) -> tuple[list[dict[str, Any]], SweepPlan]:
    """Run the tasks where `mode` says, or where they pay (mode None); rows in run order.
    ray_at: the Ray address and the workers asked for (None: all its CPUs)."""
    backend = "ray" if ray_at is not None else "pool"
    results: dict[int, list[dict[str, Any]]] = {}
    bar = _bar(len(tasks), progress)

    def done(task: Task, outcome: Outcome) -> None:
        results[task.run] = outcome.rows_or_raise(task)
        bar.update(1)

    try:
        if mode == "inline" or not tasks:
            why = "workers=0" if workers == 0 else "mode='inline'"
            _inline(tasks, done)
            plan = SweepPlan("inline", 0, len(tasks), f"in this process ({why})")
        elif mode is not None:
            _parallel(tasks, mode, workers, ray_at, done)
            plan = SweepPlan(mode, workers, 0, f"on {_where(mode, workers)} (mode={mode!r})")
        else:
            plan = _auto(tasks, backend, workers, ray_at, done)
    finally:
        bar.close()
    return [row for t in tasks for row in results[t.run]], plan


def _auto(
    tasks: list[Task],
    backend: str,
    workers: int,
    ray_at: tuple[str, int | None] | None,
    done: Callable[[Task, Outcome], None],
) -> SweepPlan:
    quotes = {t.run: quotes_of(t) for t in tasks}
    total = sum(quotes.values())
    least = total / FAST_QPS + RUN_S * len(tasks)
    if saving(least, len(tasks), workers, backend) > 0:
        _parallel(tasks, backend, workers, ray_at, done)
        return SweepPlan(
            backend, workers, 0,
            f"on {_where(backend, workers)}: {len(tasks)} runs over about {total:,} quotes, "
            f"at least {least:.1f} s of work",
        )  # fmt: skip
    est = Estimate(quotes)
    for i, t in enumerate(tasks):
        rest = tasks[i:]
        clear = 0.0 if i > 1 else 2 * start_cost(backend)  # a first run pays one-off costs
        if i and saving(est.seconds(rest), len(rest), workers, backend) > clear:
            _parallel(rest, backend, workers, ray_at, done)
            return SweepPlan(
                backend, workers, i,
                f"on {_where(backend, workers)}: {i} runs here took {est.spent:.2f} s, the "
                f"{len(rest)} others would take about {est.seconds(rest):.1f} s",
            )  # fmt: skip
        t0 = time.perf_counter()
        _inline([t], done)
        est.observe(t, time.perf_counter() - t0)
    force = "mode='ray'" if backend == "ray" else "mode='pool'"
    return SweepPlan(
        "inline", 0, len(tasks),
        f"in this process: the {len(tasks)} runs took {est.spent:.2f} s; starting "
        f"{_where(backend, workers)} costs about {start_cost(backend):.1f} s, more than it "
        f"would save ({force} forces it)",
    )  # fmt: skip


def _where(backend: str, workers: int) -> str:
    return f"Ray ({workers} at a time)" if backend == "ray" else f"{workers} worker processes"


def _inline(tasks: list[Task], done: Callable[[Task, Outcome], None]) -> None:
    for t in tasks:
        try:
            rows, notes = run_task(t)
        except Exception as e:
            raise_here(e, t)
        done(t, Outcome(rows, notes))


def _parallel(
    tasks: list[Task],
    backend: str,
    workers: int,
    ray_at: tuple[str, int | None] | None,
    done: Callable[[Task, Outcome], None],
) -> None:
    if backend == "ray":
        from .remote import run_on_ray

        address, cap = ray_at or ("local", None)
        run_on_ray(tasks, address, cap, done)
        return
    from .pool import run_pool

    run_pool(tasks, _pickled(tasks), workers, done)


def _pickled(tasks: list[Task]) -> dict[int, bytes]:
    """Each task as cloudpickle bytes: a factory of `__main__` or a notebook by value."""
    import cloudpickle

    out = {}
    for t in tasks:
        try:
            out[t.run] = cloudpickle.dumps(t)
        except Exception as e:
            raise TypeError(
                f"sweep cannot send {t.label()} to worker processes: {e}. Run it in this "
                f"process with mode='inline' (or workers=0)"
            ) from e
    return out


def _warn(out: pl.DataFrame) -> None:
    """One warning for the runs that warned (made no trades...), their notes in `warning`."""
    noted = out.filter(pl.col("warning").is_not_null()).unique("run", maintain_order=True)
    if noted.height == 0:
        return
    runs = out["run"].n_unique()
    first = noted.row(0, named=True)
    warnings.warn(
        f"{noted.height} of {runs} runs warned (see the `warning` column); "
        f"run {first['run']} ({first['symbol']}): {first['warning']}",
        stacklevel=3,
    )


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
    """The sweep table: run, params, symbol, start, end, quotes, stats, warning; by run."""
    rows = sorted(rows, key=lambda r: (r["run"], r["account"]))
    cols: list[pl.Series] = [pl.Series("run", [r["run"] for r in rows], dtype=pl.Int64)]
    for p in params:
        cols.append(pl.Series(p, [r.get(p) for r in rows]))
    for name, dtype in {**BASE_COLUMNS, **STATS_SCHEMA, **END_COLUMNS}.items():
        if name != "run":
            cols.append(pl.Series(name, [r[name] for r in rows], dtype=dtype))
    return pl.DataFrame(cols)
