"""The local process pool of sweeps: forkserver workers that never import `__main__`.

multiprocessing's spawn and forkserver workers run the caller's main script (or its
`-m` module) again before they start: a script without an `if __name__ == "__main__"`
guard would start the sweep again in every worker, which fails. These workers skip it:
each run reaches them as cloudpickle bytes, so a strategy class or function of a
notebook cell or of `__main__` travels by value and workers import only real modules.
A run's exception comes back with its traceback (`tasks.Outcome`) and is raised in the
caller; a worker that dies (killed, out of memory, a crash in native code) is reported
with the run it had. Workers ignore Ctrl-C: the caller stops them.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import connection, forkserver, popen_forkserver, spawn, util
from multiprocessing.context import ForkServerProcess, reduction, set_spawning_popen
from typing import Any

from .tasks import Outcome, Task, init_worker, run_task

#: Imported once by the forkserver, so that workers start warm (pandas: DuckDB loads it on
#: its first Arrow export, ~1 s when nothing is byte-compiled). Never `__main__`.
PRELOAD = ["pandas", "cloudpickle", "workbench.backtest.runner", "workbench.backtest.pool"]
STARTED = {"pool": False}  # whether this process has started the forkserver for a sweep


class WorkerDied(RuntimeError):
    """A sweep worker process ended while it ran a task, without an answer."""


class _Popen(popen_forkserver.Popen):
    """popen_forkserver.Popen (CPython 3.11) without the order to import `__main__`."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Process(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:  # noqa: N802 (multiprocessing's name)
        return _Popen(process_obj)


def _serve(conn: connection.Connection) -> None:
    """A worker: run the pickled tasks it is sent until it is sent None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_worker()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        run, blob = msg
        conn.send((run, execute(blob)))


def execute(blob: bytes) -> Outcome:
    """Unpickle a task (a failure to is the run's error too) and run it."""
    import pickle

    try:
        task = pickle.loads(blob)
    except Exception as e:
        return Outcome.failed(e)
    return Outcome.of(run_task, task)


@dataclass
class _Worker:
    proc: _Process
    conn: connection.Connection
    task: Task | None = None


def run_pool(
    tasks: list[Task], blobs: dict[int, bytes], workers: int, done: Callable[[Task, Outcome], None]
) -> None:
    """Run `tasks` (pickled in `blobs` by run) on `workers` processes; `done(task, outcome)`
    as each finishes, in this thread (an exception it raises stops the pool)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    STARTED["pool"] = True
    todo = deque(tasks)
    pool: list[_Worker] = []
    finished = False
    try:
        for _ in range(min(workers, len(tasks))):
            here, there = mp.Pipe()
            proc = _Process(target=_serve, args=(there,), daemon=True, name="sweep-worker")
            proc.start()
            there.close()
            pool.append(_Worker(proc, here))
        for w in pool:
            _give(w, todo, blobs)
        while any(w.task is not None for w in pool):
            busy = [w for w in pool if w.task is not None]
            ready = connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for w in busy:
                if w.conn in ready or w.proc.sentinel in ready:
                    task, outcome = _answer(w)
                    w.task = None
                    done(task, outcome)
                    _give(w, todo, blobs)
        finished = True
    finally:
        _stop(pool, finished)


def _give(w: _Worker, todo: deque[Task], blobs: dict[int, bytes]) -> None:
    if todo:
        w.task = todo.popleft()
        w.conn.send((w.task.run, blobs[w.task.run]))


def _answer(w: _Worker) -> tuple[Task, Outcome]:
    assert w.task is not None
    try:
        if w.conn.poll():
            run, outcome = w.conn.recv()
            return w.task, outcome
    except (EOFError, OSError):
        pass
    w.proc.join(5)
    code = w.proc.exitcode
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    if code == -signal.SIGKILL:
        how += " (the system may have run out of memory)"
    raise WorkerDied(
        f"a sweep worker process died ({how}) while it ran {w.task.label()}; "
        f"the sweep stopped. Run that task alone with backtest() to see why."
    )


def _stop(pool: list[_Worker], finished: bool) -> None:
    """Let idle workers end; end the others at once (a failure, Ctrl-C)."""
    for w in pool:
        if finished:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        else:
            w.proc.terminate()
    for w in pool:
        w.proc.join(5)
        if w.proc.exitcode is None:
            w.proc.kill()
            w.proc.join()
        w.conn.close()
