"""Where a sweep's runs go: in this process, or on worker processes (the pool or Ray).

Processes pay off only when the work is big enough: starting the pool's forkserver costs
about 2 s the first time in a process (0.3 s after), a local Ray 10-20 s the first time,
and each run a few ms more. So unless told (`mode=`), a sweep with more than one worker
first estimates the work from the quotes its runs cover (Parquet metadata), at a speed
no strategy beats; when that alone is worth the start, it goes out at once. Otherwise it
runs in this process, timing each run, and hands the rest out once the runs left would
take longer here than the start costs with the time the workers save (after one run only
when that is clear by far: a first run pays one-off costs). `SweepPlan` says what was
chosen and why; the sweep logs it and keeps it on the table (`table.plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.parquet as pq

from . import pool, remote
from .tasks import Task

FAST_QPS = 3_000_000  # quotes/s no strategy reaches (the bare engine: ~3.7M on one core)
RUN_S = 0.005  # the least a run costs beside its quotes (engine set-up, result, stats)
START_S = {("pool", False): 2.0, ("pool", True): 0.3, ("ray", False): 15.0, ("ray", True): 0.3}
PER_RUN_S = {"pool": 0.002, "ray": 0.005}


@dataclass
class SweepPlan:
    """How a sweep ran: `mode` inline / pool / ray, on `workers` processes, after
    `inline_runs` runs in this process (auto), and `reason` in words."""

    mode: str
    workers: int
    inline_runs: int
    reason: str

    def __str__(self) -> str:
        return self.reason


def start_cost(backend: str) -> float:
    """Seconds to get `backend`'s workers going in this process now."""
    warm = pool.STARTED["pool"] if backend == "pool" else remote.running()
    return START_S[(backend, warm)]


def saving(seconds: float, runs: int, workers: int, backend: str) -> float:
    """Seconds saved by running `runs` runs taking `seconds` here on `workers` workers."""
    w = min(workers, runs)
    if w <= 1:
        return 0.0
    return seconds - seconds / w - start_cost(backend) - PER_RUN_S[backend] * runs / w


_ROWS: dict[str, tuple[int, int, int]] = {}


def _file_rows(path: str) -> tuple[int, int, int]:
    """(rows, min t, max t) of a partition file, from its metadata (cached)."""
    if path not in _ROWS:
        md = pq.read_metadata(path)
        lo, hi = None, None
        idx = md.schema.names.index("t") if "t" in md.schema.names else None
        for g in range(md.num_row_groups):
            st = md.row_group(g).column(idx).statistics if idx is not None else None
            if st is not None and st.has_min_max:
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
        _ROWS[path] = (md.num_rows, lo if lo is not None else 0, hi if hi is not None else 0)
    return _ROWS[path]


def quotes_of(task: Task) -> int:
    """About how many quotes a task runs: its files' rows, in proportion to the part of
    each file's time span inside the task's range."""
    total = 0.0
    for path in task.files:
        n, lo, hi = _file_rows(path)
        a = lo if task.start is None else max(lo, task.start)
        b = hi + 1 if task.end is None else min(hi + 1, task.end)
        if b > a:
            total += n * (b - a) / (hi + 1 - lo)
    return int(total)


@dataclass
class Estimate:
    """Seconds per (estimated) quote seen so far in this process, and the runs timed."""

    quotes: dict[int, int]
    rates: list[float] = field(default_factory=list)
    spent: float = 0.0

    def observe(self, task: Task, seconds: float) -> None:
        self.rates.append(seconds / max(self.quotes[task.run], 1))
        self.spent += seconds

    def seconds(self, tasks: list[Task]) -> float:
        return min(self.rates) * sum(max(self.quotes[t.run], 1) for t in tasks)
