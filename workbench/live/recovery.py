"""Recovery: the latest valid snapshot, then the journal records after it.

What could not be read (a corrupt snapshot, a torn journal tail) is skipped with a
warning. `history_seq` is the last event sequence number the history database holds:
a snapshot newer than that is passed over for an older one (or a full replay), so that
the events the database is missing are produced again and can be stored.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import BadInput, Engine
from ..money import fmt_price
from .journal import read_tail, segments
from .snapshots import SnapshotStore

log = logging.getLogger(__name__)

Event = dict[str, Any]


@dataclass
class Recovered:
    """The engine as it was, and how it was rebuilt."""

    engine: Engine
    index: int  # the last journal record applied
    snapshot_index: int | None
    replayed: int
    events: list[Event] = field(default_factory=list)  # replayed events with seq > history_seq
    commands: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # replayed commands
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def recover(
    journal_dir: Path,
    snapshots: SnapshotStore,
    *,
    history_seq: int | None = None,
    warn: Callable[[str], None] = log.warning,
    freeze: bool = False,
) -> Recovered:
    """Rebuild the engine from the data directory; never raises for damaged files.

    `freeze`: the engine will live as long as the process (a server), so move what was
    built into the collector's permanent generation (else the first collection after
    recovery walks every position: 0.15 s with 100k)."""
    paused = gc.isenabled()
    gc.disable()  # recovery builds many long-lived objects: no collections meanwhile
    try:
        return _recover(journal_dir, snapshots, history_seq, warn)
    finally:
        if freeze:
            gc.freeze()
        if paused:
            gc.enable()


def apply_records(
    engine: Engine,
    records: list[tuple[int, dict[str, Any] | tuple[str, int, int, int]]],
    say: Callable[[str], None] = log.warning,
) -> list[tuple[int, dict[str, Any]]]:
    """Apply journal records (as `read_tail` gives them) to `engine`, runs of quotes fed
    together; returns the commands applied, with their journal index."""
    commands: list[tuple[int, dict[str, Any]]] = []
    run: list[tuple[str, int, int, int]] = []  # consecutive quotes

    def feed_run() -> None:
        known = engine.symbols
        if all(q[0] in known for q in run):
            engine.feed_quotes([known[q[0]] for q in run], [q[1] for q in run],
                               [q[2] for q in run], [q[3] for q in run])  # fmt: skip
        else:  # an unknown symbol: one by one, so the message names it
            for sym, t, bid, ask in run:
                try:
                    engine.quote(sym, t, fmt_price(bid), fmt_price(ask))
                except BadInput as e:
                    say(f"a journaled quote refused on replay and skipped: {e}")
        run.clear()

    for idx, rec in records:
        if isinstance(rec, tuple):
            run.append(rec)
            continue
        if run:
            feed_run()
        try:
            engine.apply(rec)
        except BadInput as e:
            say(f"journal record {idx} refused on replay and skipped: {e}")
            continue
        if rec.get("type") != "quote":
            commands.append((idx, rec))
    if run:
        feed_run()
    return commands


def _recover(
    journal_dir: Path,
    snapshots: SnapshotStore,
    history_seq: int | None,
    warn: Callable[[str], None],
) -> Recovered:
    started = time.perf_counter()
    warnings: list[str] = []

    def say(msg: str) -> None:
        warnings.append(msg)
        warn(msg)

    segs = segments(journal_dir)
    first = segs[0][0] if segs else None
    engine: Engine | None = None
    base = 0
    for index, eng in snapshots.valid(say):
        behind = history_seq is not None and eng.seq > history_seq
        replayable = first is not None and first <= 1
        if behind and replayable:
            say(f"snapshot {index} (event {eng.seq}) is ahead of the history database "
                f"(event {history_seq}): rebuilding from an older point")  # fmt: skip
            continue
        engine, base = eng, index
        break
    if engine is None:
        engine = Engine()
        if first is not None and first > 1:
            say(f"the journal starts at record {first} and no usable snapshot precedes it: "
                "the records before it are lost")  # fmt: skip
    tail = read_tail(journal_dir, base, say)
    events: list[Event] = []
    floor = -1 if history_seq is None else history_seq
    unsubscribe = engine.subscribe(lambda ev: events.append(ev) if ev["seq"] > floor else None)
    try:
        commands = apply_records(engine, tail.records, say)
    finally:
        unsubscribe()
    return Recovered(
        engine=engine,
        index=tail.next_index - 1,
        snapshot_index=base or None,
        replayed=len(tail.records),
        events=events,
        commands=commands,
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )
