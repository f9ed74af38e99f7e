"""The one writer of a live engine: every input in one sequence, journaled, then answered.

Two threads, as in the LMAX design. The engine thread takes whatever inputs are
queued (commands, quotes, queries), applies them in order, and hands the batch on; the
commit thread appends the batch's records to the journal, fsyncs once for everything
queued (group commit), stores the events in the history, and only then answers the
callers and publishes the events. So a command is acknowledged only once durable, and a
query sees no state that a crash could take back from an acknowledged answer.

Commands are stamped with their input time here: max(clock(), engine time, last stamp).
An input the engine refuses with BadInput is answered with that error and not journaled,
so `workbench simulate` of the journal reproduces the served events exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..domain import Instrument
from ..engine import BadInput, Engine
from ..engine.snapshot import encode, state_dict
from ..money import fmt_price
from .journal import JournalWriter
from .replies import LoopReply, fail, settle
from .sink import QuoteColumns, QuoteTuple
from .snapshots import SnapshotStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Event = dict[str, Any]
MAX_BATCH = 4096  # inputs the engine thread takes at once
#: Quotes the engine thread takes into one batch (more wait for the next): a batch is
#: journaled, answered and handed on as one, so this bounds how long a command queued
#: behind a burst of quotes waits, and what one hand-over brings the event loop.
MAX_BATCH_QUOTES = 8192


@dataclass
class _Command:
    record: dict[str, Any]
    future: Future[Any]
    before: Callable[[Engine], Any] | None = None
    after: Callable[[Engine], Any] | None = None


@dataclass
class _Query:
    fn: Callable[[Engine], Any]
    future: Future[Any]


@dataclass
class _Quotes:
    quotes: Sequence[QuoteTuple]


@dataclass
class _Batch:
    lines: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    answers: list[tuple[Future[Any], Any, BaseException | None]] = field(default_factory=list)
    quotes: QuoteColumns = field(default_factory=QuoteColumns)
    commands: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (index, record)
    index: int = 0  # journal index of the last record in this batch
    snapshot: dict[str, Any] | None = None  # state after `index`, to be written
    taken: int = 0  # quotes taken from the inbox (bad ones too): the backlog they leave


@dataclass
class SequencerStats:
    """Counters for /health and the benchmarks."""

    inputs: int = 0
    commands: int = 0
    quotes: int = 0
    refused: int = 0
    batches: int = 0
    syncs: int = 0
    snapshots: int = 0
    last_snapshot_index: int = 0
    last_snapshot_s: float = 0.0
    errors: int = 0


_STOP = object()


def _view(fn: Callable[[Engine], Any] | None, engine: Engine) -> Any:
    """A read beside a command; a failing read gives None, never fails the command."""
    if fn is None:
        return None
    try:
        return fn(engine)
    except Exception:
        log.exception("a read beside a command failed")
        return None


class Sequencer:
    """Owns `engine` from `start()` on: nothing else may touch it but through here.

    After each fsync the commit thread answers the callers, then calls
    `on_publish(events, quotes)` (fan-out to sockets; `quotes` the group's applied quotes
    as `QuoteColumns`) and `on_durable(events, commands, index)` (the history's queue;
    commands are (journal index, record) pairs): neither may block.
    `before_snapshot(index)` runs on the snapshot thread before a snapshot of the state
    after record `index` is written (the history waits to have stored that far, so a
    snapshot is never ahead of the history).
    """

    def __init__(
        self,
        engine: Engine,
        journal: JournalWriter,
        snapshots: SnapshotStore,
        *,
        clock: Callable[[], int],
        on_durable: Callable[[list[Event], list[tuple[int, dict[str, Any]]], int], None] = (
            lambda events, commands, index: None
        ),
        before_snapshot: Callable[[int], Any] = lambda index: None,
        on_publish: Callable[[list[Event], QuoteColumns], None] = lambda e, q: None,
        snapshot_every: int = 200_000,
        snapshot_seconds: float = 300.0,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.snapshots = snapshots
        self.clock = clock
        self.on_durable = on_durable
        self.on_publish = on_publish
        self.before_snapshot = before_snapshot
        self.snapshot_every = snapshot_every
        self.snapshot_seconds = snapshot_seconds
        self.index = journal.next_index - 1  # last journal record applied
        self.durable_index = self.index
        self.stats = SequencerStats(last_snapshot_index=self.index)
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._commits: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._snaps: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._last_t = max(engine.now, 0)
        #: The engine's instrument names, kept current by the engine thread (read anywhere).
        self.symbols: tuple[str, ...] = tuple(engine.symbols)
        self._queued_quotes = 0
        self._qlock = threading.Lock()
        self._events: list[Event] = []
        self._snap_mark = time.monotonic()
        self._snap_index = self.index
        self._threads: list[threading.Thread] = []
        self._running = False
        engine.subscribe(self._events.append)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._running = True
        for name, target in (("engine", self._engine_loop), ("commit", self._commit_loop),
                             ("snapshot", self._snapshot_loop)):  # fmt: skip
            th = threading.Thread(target=target, name=f"workbench-{name}", daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self, final_snapshot: bool = True, timeout: float = 30.0) -> None:
        """Apply what is queued, make it durable, write a last snapshot, stop the threads."""
        if not self._running:
            return
        self._running = False
        self._inbox.put((_STOP, final_snapshot))
        for th in self._threads:
            th.join(timeout)
        self.journal.close()

    # --------------------------------------------------------------- inputs
    def submit(self, record: dict[str, Any]) -> Future[list[Event]]:
        """Queue a command record (scenario format, without `t`); answers its events."""
        return self.submit_viewed(record)

    def submit_viewed(
        self,
        record: dict[str, Any],
        before: Callable[[Engine], Any] | None = None,
        after: Callable[[Engine], Any] | None = None,
        reply: LoopReply | None = None,
    ) -> Future[Any] | LoopReply:
        """Like `submit`, reading the engine right before and/or after the command, in the
        same step (no other input in between); answers (events, before, after) when given.
        With `reply`, the answer goes to that asyncio future (and `reply` is returned)."""
        fut: Any = reply if reply is not None else Future()
        if not self._running:
            fail(fut, RuntimeError("the engine is not running"))
            return fut  # type: ignore[no-any-return]
        self._inbox.put(_Command(record, fut, before, after))
        return fut  # type: ignore[no-any-return]

    def query(self, fn: Callable[[Engine], T], reply: LoopReply | None = None) -> Future[T]:
        """Run `fn(engine)` between inputs; answered once everything before it is durable
        (to `reply`'s asyncio future when given, which is then returned)."""
        fut: Any = reply if reply is not None else Future()
        if not self._running:
            fail(fut, RuntimeError("the engine is not running"))
            return fut  # type: ignore[no-any-return]
        self._inbox.put(_Query(fn, fut))
        return fut  # type: ignore[no-any-return]

    def put_quotes(self, quotes: Sequence[QuoteTuple]) -> None:
        """Queue quotes (symbol, t, bid units, ask units); never blocks."""
        if not quotes or not self._running:
            return
        with self._qlock:
            self._queued_quotes += len(quotes)
        self._inbox.put(_Quotes(quotes))

    def backlog(self) -> int:
        """Quotes queued and not yet durable and handed on: a fast feed waits on it, so it
        never runs ahead of the slowest stage (the engine, or the commit thread's journal
        writes and hand-overs), and a command queued behind them waits a bounded time."""
        return self._queued_quotes

    def declare_instruments(self, instruments: Sequence[Instrument]) -> None:
        """Declare instruments through the journal; blocks until they are durable."""
        futs = [self.submit({"type": "instrument", **i.to_fields()}) for i in instruments]
        for f in futs:
            f.result()

    # ---------------------------------------------------------- engine loop
    def _engine_loop(self) -> None:
        inbox = self._inbox
        while True:
            item = inbox.get()
            items = [item]
            quotes = len(item.quotes) if isinstance(item, _Quotes) else 0
            while len(items) < MAX_BATCH and quotes < MAX_BATCH_QUOTES:
                try:
                    it = inbox.get_nowait()
                except queue.Empty:
                    break
                items.append(it)
                if isinstance(it, _Quotes):
                    quotes += len(it.quotes)
            batch = _Batch()
            stop = None
            for it in items:
                if isinstance(it, tuple) and it and it[0] is _STOP:
                    stop = it
                    continue
                try:
                    self._apply(it, batch)
                except Exception as e:  # never let one input kill the engine thread
                    self.stats.errors += 1
                    log.exception("engine input failed: %r", it)
                    fut = getattr(it, "future", None)
                    if fut is not None:
                        batch.answers.append((fut, None, e))
            batch.index = self.index
            self.stats.batches += 1
            if stop is not None:
                if stop[1] and self.index > self._snap_index:
                    self._snapshot_into(batch)
                self._commits.put(batch)
                self._commits.put(_STOP)
                return
            if self._snapshot_due():
                self._snapshot_into(batch)
            self._commits.put(batch)

    def _snapshot_into(self, batch: _Batch) -> None:
        """Capture the state after `batch` (written once the batch is durable)."""
        batch.snapshot = state_dict(self.engine)
        self._snap_index = self.index
        self._snap_mark = time.monotonic()

    def _snapshot_due(self) -> bool:
        since = self.index - self._snap_index
        if since <= 0:
            return False
        return since >= self.snapshot_every or (
            time.monotonic() - self._snap_mark >= self.snapshot_seconds
        )

    def _apply(self, it: Any, batch: _Batch) -> None:
        eng = self.engine
        events = self._events
        if isinstance(it, _Quotes):
            self._apply_quotes(it.quotes, batch)
            return
        if isinstance(it, _Query):
            try:
                batch.answers.append((it.future, it.fn(eng), None))
            except Exception as e:
                batch.answers.append((it.future, None, e))
            return
        assert isinstance(it, _Command)
        t = max(self.clock(), eng.now, self._last_t, 0)
        rec = {"t": t, **it.record}
        start = len(events)
        seen = _view(it.before, eng)
        try:
            eng.apply(rec)
        except BadInput as e:
            self.stats.refused += 1
            del events[start:]  # (a refused input emits nothing; kept for safety)
            batch.answers.append((it.future, None, e))
            return
        self._last_t = t
        if rec["type"] == "instrument":
            self.symbols = tuple(eng.symbols)
        self.index += 1
        self.stats.inputs += 1
        self.stats.commands += 1
        batch.lines.append(json.dumps(rec, default=str))
        batch.commands.append((self.index, rec))
        mine = events[start:]
        batch.events.extend(mine)
        del events[:]
        if it.before is None and it.after is None:
            batch.answers.append((it.future, mine, None))
        else:
            batch.answers.append((it.future, (mine, seen, _view(it.after, eng)), None))

    def _apply_quotes(self, quotes: Sequence[QuoteTuple], batch: _Batch) -> None:
        eng = self.engine
        batch.taken += len(quotes)
        sids: list[int] = []
        ts: list[int] = []
        bids: list[int] = []
        asks: list[int] = []
        lines = batch.lines
        for sym, t, bid, ask in quotes:
            sid = eng.symbols.get(sym)
            if sid is None or bid <= 0 or ask <= 0 or bid > ask or t < 0:
                eng.bad_quotes += 1
                continue
            sids.append(sid)
            ts.append(t)
            bids.append(bid)
            asks.append(ask)
            lines.append(
                f'{{"t": {t}, "type": "quote", "symbol": "{sym}", '
                f'"bid": "{fmt_price(bid)}", "ask": "{fmt_price(ask)}"}}'
            )
        if not sids:
            return
        eng.feed_quotes(sids, ts, bids, asks)
        batch.quotes.add(self.symbols, sids, ts, bids, asks)
        self.index += len(sids)
        self.stats.inputs += len(sids)
        self.stats.quotes += len(sids)
        self._last_t = max(self._last_t, eng.now)
        batch.events.extend(self._events)
        del self._events[:]

    # ---------------------------------------------------------- commit loop
    def _commit_loop(self) -> None:
        commits = self._commits
        while True:
            first = commits.get()
            group = [first]
            while True:
                try:
                    group.append(commits.get_nowait())
                except queue.Empty:
                    break
            stop = any(b is _STOP for b in group)
            batches = [b for b in group if b is not _STOP]
            self._commit(batches)
            if stop:
                self._snaps.put(_STOP)
                return

    def _commit(self, batches: list[_Batch]) -> None:
        journal = self.journal
        pending: list[_Batch] = []
        for b in batches:
            journal.append(b.lines)
            pending.append(b)
            if b.snapshot is not None:
                self._durable(pending)  # what the snapshot covers is durable first
                pending = []
                journal.rotate()
                self._snaps.put((b.index, b.snapshot))
        self._durable(pending)

    def _durable(self, batches: list[_Batch]) -> None:
        if not batches:
            return
        self.journal.sync()
        self.stats.syncs += 1
        events = [e for b in batches for e in b.events]
        commands = [c for b in batches for c in b.commands]
        self.durable_index = batches[-1].index
        quotes = batches[0].quotes if len(batches) == 1 else QuoteColumns()
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for b in batches:
            for fut, value, err in b.answers:
                if isinstance(fut, LoopReply):
                    by_loop.setdefault(fut.loop, []).append((fut.future, value, err))
                elif not fut.done():
                    if err is not None:
                        fut.set_exception(err)
                    else:
                        fut.set_result(value)
            if b.quotes is not quotes:
                quotes.extend(b.quotes)
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(settle, answers)
        for hook, args in ((self.on_publish, (events, quotes)),
                           (self.on_durable, (events, commands, self.durable_index))):  # fmt: skip
            try:
                hook(*args)  # type: ignore[operator]
            except Exception:
                self.stats.errors += 1
                log.exception("handing a durable batch on failed")
        taken = sum(b.taken for b in batches)
        if taken:
            with self._qlock:
                self._queued_quotes -= taken

    # -------------------------------------------------------- snapshot loop
    def _snapshot_loop(self) -> None:
        while True:
            item = self._snaps.get()
            if item is _STOP:
                return
            index, state = item
            started = time.perf_counter()
            try:
                self.before_snapshot(index)
                self.snapshots.save(index, encode(state))
            except Exception:
                self.stats.errors += 1
                log.exception("writing the snapshot at record %d failed", index)
                continue
            self.stats.snapshots += 1
            self.stats.last_snapshot_index = index
            self.stats.last_snapshot_s = time.perf_counter() - started
