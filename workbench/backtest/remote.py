"""Sweep tasks on Ray: a local Ray started here, a running cluster, or `ray://` address.

Each task is a Ray task of one CPU calling the same `run_task` as the local pool, so the
rows are the same. A Ray started here is shut down afterwards; one already initialised in
this process is used as it is. Functions of modules the workers cannot import (a script's
`__main__`, a test module, a notebook) are shipped by value.
"""

from __future__ import annotations

import sys
from typing import Any

from .sweep import Task, _bar, init_worker, run_task


def _ray_task(task: Task) -> list[dict[str, Any]]:
    init_worker()
    return run_task(task)


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
    tasks: list[Task], address: str, workers: int | None, progress: bool
) -> list[list[dict[str, Any]]]:
    """Run the tasks as Ray tasks; results in task order."""
    import ray

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        _ship_by_value(tasks)
        remote = ray.remote(num_cpus=1)(_ray_task)
        refs = {remote.remote(t): t.run for t in tasks}
        results: dict[int, list[dict[str, Any]]] = {}
        bar = _bar(len(tasks), progress)
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    results[refs[ref]] = ray.get(ref)
                    bar.update(1)
        finally:
            bar.close()
        return [results[t.run] for t in tasks]
    finally:
        if started:
            ray.shutdown()
