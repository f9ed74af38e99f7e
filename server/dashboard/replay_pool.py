"""Replay worker processes, seen from the serving process: a capped pool and its handles.

A replay page that loads a tape asks the `ReplayPool` for a worker. At most `workers`
run at once; a page over the cap waits in a queue (first come, first served) and is told
its place, and gets the next worker that ends. Workers are forked from a forkserver
that imported their modules once (multiprocessing's "forkserver" context), so a new one
starts in milliseconds; see replay_worker for what runs in them.

A `ReplayWorker` is the serving process's end of one worker: commands go out through a
writer thread, batches and answers come back through a reader thread onto the event
loop, so a slow or stuck worker never blocks the loop. When the worker process ends for
any reason other than `stop()`, `on_exit` gets one line saying how ("the replay stopped:
worker exited with signal 9 (SIGKILL)"); the serving process carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing as mp
import queue
import shutil
import signal
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WORKER_MODULE = "server.dashboard.replay_worker"
STOP_WAIT_S = 2.0  # a worker told to stop gets this long, then it is killed


class WorkerGone(Exception):
    """The worker has ended (stopped, or exited on its own); the message says how."""


def _context() -> Any:
    methods = mp.get_all_start_methods()
    if "forkserver" not in methods:
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([WORKER_MODULE])
    return ctx


def exit_text(code: int | None) -> str:
    """How a worker process ended, for the page."""
    if code is None:
        return "worker did not exit"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"worker exited with signal {-code} ({signal.Signals(-code).name})"
        return f"worker exited with signal {-code}"
    return f"worker exited with code {code}"


class ReplayWorker:
    """One worker process and its pipe (see the module docstring)."""

    def __init__(self, pool: ReplayPool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.on_batch: Callable[[dict[str, Any]], None] | None = None
        self.on_exit: Callable[[str], None] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="workbench-replay-"))  # tapes handed over
        self.proc: Any = None
        self.conn: Connection | None = None
        self.gone: str | None = None  # why it ended, once it has
        self.stopping = False
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._out: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._ended = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        """Start the process (blocks: the first start also starts the forkserver)."""
        from .replay_worker import main

        ctx = self.pool.context()
        ours, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=main, args=(theirs, self.pool.nice()), daemon=True,
                                name="workbench-replay")  # fmt: skip
        self.proc.start()
        theirs.close()
        self.conn = ours
        threading.Thread(target=self._read, name="replay-reader", daemon=True).start()
        threading.Thread(target=self._write, name="replay-writer", daemon=True).start()

    # ------------------------------------------------------------- threads
    def _read(self) -> None:
        conn = self.conn
        assert conn is not None
        try:
            while True:
                msg = conn.recv()
                self._soon(self._arrived, msg)
        except (EOFError, OSError):
            pass
        except Exception:  # a message that does not unpickle: treat the worker as broken
            log.exception("a replay worker sent something unreadable")
        self._soon(self._lost)

    def _write(self) -> None:
        conn = self.conn
        assert conn is not None
        while (msg := self._out.get()) is not None:
            try:
                conn.send(msg)
            except (OSError, ValueError):
                return  # the worker is gone: the reader reports it

    def _soon(self, fn: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is ending
            self.loop.call_soon_threadsafe(fn, *args)

    # ----------------------------------------------------------- the loop
    def _arrived(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "answer":
            fut = self._waiting.pop(msg[1], None)
            if fut is not None and not fut.done():
                fut.set_result(msg[2])
        elif msg[0] == "batch" and self.on_batch is not None:
            try:
                self.on_batch(msg[1])
            except Exception:
                log.exception("a replay page failed to take a batch")

    def _lost(self) -> None:
        self._reaper = self.loop.create_task(self._reap(), name="replay-worker-reap")

    async def _reap(self) -> None:
        """The pipe closed: wait for the process, say how it ended, free the slot."""
        if self.gone is not None:
            return
        proc = self.proc
        self.gone = "stopped"
        if proc is not None:
            await asyncio.to_thread(proc.join, STOP_WAIT_S)
            if proc.is_alive():  # closed its pipe but lives on: not ours to keep
                proc.kill()
                await asyncio.to_thread(proc.join, STOP_WAIT_S)
            self.gone = exit_text(proc.exitcode)
        why = f"the replay stopped: {self.gone}"
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(WorkerGone(why))
        self._waiting.clear()
        self._out.put(None)
        if self.conn is not None:
            self.conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.pool._release(self)
        self._ended.set()
        if not self.stopping:
            log.warning("a replay worker (pid %s) ended: %s", self.pid, self.gone)
            if self.on_exit is not None:
                self.on_exit(why)

    # ---------------------------------------------------------- commands
    def send(self, *msg: Any) -> None:
        """A command without an answer (play, speed, seek)."""
        if self.gone is None:
            self._out.put(msg)

    async def request(self, op: str, *args: Any) -> Any:
        """A command and the worker's answer; WorkerGone if it ends first."""
        if self.gone is not None:
            raise WorkerGone(f"the replay stopped: {self.gone}")
        rid = next(self._ids)
        fut = self.loop.create_future()
        self._waiting[rid] = fut
        self._out.put((op, rid, *args))
        return await fut

    async def stop(self) -> None:
        """Tell the worker to stop; kill it if it has not within STOP_WAIT_S."""
        self.stopping = True
        if self.proc is None:  # never started: nothing to wait for
            return
        if self.gone is None:
            self._out.put(("stop",))
            try:
                await asyncio.wait_for(self._ended.wait(), STOP_WAIT_S)
            except TimeoutError:
                self.proc.kill()
        await self._ended.wait()


class ReplayPool:
    """At most `workers` replay workers at once; the pages over the cap wait in line."""

    def __init__(self, workers: int = 2, nice: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"replay workers must be at least 1, not {workers}")
        self.workers = workers
        self._nice = nice  # None: the worker module's NICE, read at the first start
        self.running: set[ReplayWorker] = set()
        self.queue: deque[tuple[asyncio.Future[None], Callable[[int], None]]] = deque()
        self._ctx: Any = None
        self._taken = 0  # slots held: running workers and those starting
        self._tasks: set[asyncio.Future[Any]] = set()

    def nice(self) -> int:
        """What a worker adds to its niceness. The worker module (the player, the engine,
        the strategies) is imported here, at the first start, not when the server starts."""
        if self._nice is None:
            from .replay_worker import NICE

            self._nice = NICE
        return self._nice

    def context(self) -> Any:
        if self._ctx is None:
            self._ctx = _context()
        return self._ctx

    async def acquire(self, queued: Callable[[int], None]) -> ReplayWorker:
        """A started worker; over the cap, wait in line (`queued(n)`: n pages before us)."""
        if self._taken < self.workers and not self.queue:
            self._taken += 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (fut, queued)
            self.queue.append(entry)
            queued(len(self.queue) - 1)
            try:
                await fut  # the slot is handed over with it
            except BaseException:
                if entry in self.queue:
                    self.queue.remove(entry)
                    self._tell_queue()
                elif fut.done() and not fut.cancelled():
                    self._hand_on()  # given a slot while leaving: pass it on
                raise
        worker = ReplayWorker(self, asyncio.get_running_loop())
        start = asyncio.ensure_future(asyncio.to_thread(worker.start))
        try:
            await asyncio.shield(start)
        except asyncio.CancelledError:  # the page left while its worker started
            start.add_done_callback(lambda _: self._spawn(self._discard(worker, start)))
            raise
        except BaseException:
            self._failed(worker)
            raise
        self.running.add(worker)
        return worker

    def _failed(self, worker: ReplayWorker) -> None:
        shutil.rmtree(worker.dir, ignore_errors=True)
        self._hand_on()

    async def _discard(self, worker: ReplayWorker, start: asyncio.Future[None]) -> None:
        """A worker nobody waits for any more: stopped once started."""
        if start.cancelled() or start.exception() is not None:
            self._failed(worker)
            return
        self.running.add(worker)
        await worker.stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, worker: ReplayWorker) -> None:
        if worker in self.running:
            self.running.discard(worker)
            self._hand_on()

    def _hand_on(self) -> None:
        """A slot freed: to the first page in line, else back to the pool."""
        while self.queue:
            fut, _ = self.queue.popleft()
            if not fut.done():
                fut.set_result(None)
                self._tell_queue()
                return
        self._taken -= 1

    def _tell_queue(self) -> None:
        for place, (_, queued) in enumerate(self.queue):
            with contextlib.suppress(Exception):
                queued(place)

    async def close(self) -> None:
        """Stop every worker (the server is ending)."""
        for fut, _ in self.queue:
            fut.cancel()
        self.queue.clear()
        await asyncio.gather(*(w.stop() for w in list(self.running)), return_exceptions=True)


__all__ = ["ReplayPool", "ReplayWorker", "WorkerGone", "exit_text"]
