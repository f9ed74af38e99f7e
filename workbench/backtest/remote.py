"""Sweep tasks on Ray: one Ray runtime per process, started once and reused by every sweep.

`ray="local"` starts a local Ray the first time (seconds) and keeps it for the next
sweeps; `"auto"` or `"ray://host:port"` attaches to a running cluster once. A Ray the
caller initialised itself is used as it is. `shutdown()` ends a Ray started here.
Each task is a Ray task of one CPU calling the same `run_task` as the local pool, so the
rows are the same; at most `workers` run at a time when it is given. Functions of modules
the workers cannot import (a script's `__main__`, a test module, a notebook) are shipped
by value.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .tasks import Outcome, Task, init_worker, run_task

_RAY: dict[str, Any] = {}  # "address": what this process asked Ray for; "remote": the task


def _ray_task(task: Task) -> Outcome:
    init_worker()
    return Outcome.of(run_task, task)


def running() -> bool:
    """Whether a Ray runtime is up in this process (without importing Ray, ~2 s)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def runtime(address: str, workers: int | None) -> Callable[..., Any]:
    """The Ray task to submit runs to, on the Ray of this process (started or attached once;
    a later sweep asking for another address is refused)."""
    import ray

    asked = _RAY.get("address")
    if ray.is_initialized():
        if asked is not None and asked != address:
            raise ValueError(
                f"this process already uses Ray at {asked!r}, not {address!r}: one Ray runtime "
                f"per process (workbench.backtest.remote.shutdown() ends it)"
            )
    else:
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        _RAY.clear()
        _RAY["address"] = address
        _RAY["cpus"] = workers if address == "local" else None
    if "remote" not in _RAY:
        _RAY["remote"] = ray.remote(num_cpus=1)(_ray_task)
    return _RAY["remote"]


def shutdown() -> None:
    """End the Ray runtime of this process (the next Ray sweep starts or attaches anew)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    _RAY.clear()


def _ship_by_value(tasks: list[Task]) -> None:
    """Pickle the factories' modules by value unless they belong to an installed package."""
    import ray.cloudpickle as cp

    seen = set()
    for t in tasks:
        name = getattr(t.factory, "__module__", None)
        if not name or name in seen or name == "__main__" or name.startswith("workbench."):
            continue
        seen.add(name)
        module = sys.modules.get(name)
        top = name.split(".")[0]
        spec = getattr(sys.modules.get(top), "__spec__", None)
        origin = str(getattr(spec, "origin", "") or "")
        if module is not None and "site-packages" not in origin:
            cp.register_pickle_by_value(module)


def run_on_ray(
    tasks: list[Task], address: str, workers: int | None, done: Callable[[Task, Outcome], None]
) -> None:
    """Run the tasks as Ray tasks, at most `workers` at a time (None: as many as Ray has
    CPUs; a local Ray started with `workers` CPUs caps it itself, so all are queued at
    once); `done(task, outcome)` as each finishes (an exception it raises cancels the rest)."""
    import ray

    remote = runtime(address, workers)
    _ship_by_value(tasks)
    capped = workers is not None and _RAY.get("cpus") != workers
    limit = workers if capped else len(tasks)
    todo = list(reversed(tasks))
    refs: dict[Any, Task] = {}
    try:
        while todo or refs:
            while todo and len(refs) < limit:
                t = todo.pop()
                refs[remote.remote(t)] = t
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                done(refs.pop(ref), ray.get(ref))
    finally:
        for ref in refs:
            ray.cancel(ref)
