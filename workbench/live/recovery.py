"""Recovery: the latest valid snapshot, then the journal records after it.

A corrupt snapshot is skipped and a torn journal tail cut off, each with a warning.
Any other journal damage raises JournalDamaged before anything is changed, and so does
a journal that ends before what the history database holds as acknowledged
(`history_idx`, the last journaled command it stored; `history_seq`, its last event).
`history_seq` also picks the snapshot: one newer than it is passed over for an older
one (or a full replay), so that the events the database is missing are produced again
and can be stored.
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
from .journal import JournalDamaged, JournalTail, Tear, cut_tear, scan, segments
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
    history_idx: int | None = None,
    warn: Callable[[str], None] = log.warning,
    freeze: bool = False,
    verify: bool = True,
    on_tear: Callable[[Tear, Callable[[str], None]], str] = cut_tear,
) -> Recovered:
    """Rebuild the engine from the data directory; raises JournalDamaged (having changed
    nothing) when acknowledged records are missing or damaged.

    `verify=False` skips the comparison with the history (the repair trims the history
    to the journal afterwards); `on_tear` removes a torn tail (default: cut in place).
    `freeze`: the engine will live as long as the process (a server), so move what was
    built into the collector's permanent generation (else the first collection after
    recovery walks every position: 0.15 s with 100k)."""
    paused = gc.isenabled()
    gc.disable()  # recovery builds many long-lived objects: no collections meanwhile
    try:
        acked = (history_seq, history_idx) if verify else (None, None)
        rec = _recover(journal_dir, snapshots, history_seq, acked, warn, on_tear)
        if freeze:  # (not after a failure: what was built is garbage then)
            gc.freeze()
        return rec
    finally:
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
    acked: tuple[int | None, int | None],
    warn: Callable[[str], None],
    on_tear: Callable[[Tear, Callable[[str], None]], str],
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
    tail = scan(journal_dir, base)
    _check_acknowledged(tail, acked[1])
    events: list[Event] = []
    floor = -1 if history_seq is None else history_seq
    unsubscribe = engine.subscribe(lambda ev: events.append(ev) if ev["seq"] > floor else None)
    try:
        commands = apply_records(engine, tail.records, say)
    finally:
        unsubscribe()
    if acked[0] is not None and engine.seq < acked[0]:
        raise JournalDamaged(
            f"the journal replays to event {engine.seq}, but the history (accounts.duckdb) "
            f"holds events up to {acked[0]}: acknowledged inputs are missing from the "
            f"journal, which ends at record {tail.next_index - 1}{_where(tail)}",
            record=tail.next_index,
        )  # fmt: skip
    if tail.tear is not None:
        warnings.append(on_tear(tail.tear, warn))
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


def _where(tail: JournalTail) -> str:
    return "" if tail.end is None else f" ({tail.end[0]} byte {tail.end[1]})"


def _check_acknowledged(tail: JournalTail, history_idx: int | None) -> None:
    """The journal holds every command the history says was acknowledged."""
    if history_idx is None:
        return
    tear = tail.tear
    if tear is not None and tear.record <= history_idx:
        raise JournalDamaged(
            f"{tear.path} byte {tear.offset} (record {tear.record}) is {tear.why}, but the "
            f"history (accounts.duckdb) holds record {history_idx} as acknowledged",
            cut=(tear.path, tear.offset), record=tear.record,
        )  # fmt: skip
    end = tail.next_index - 1
    if end < history_idx:
        raise JournalDamaged(
            f"the journal ends at record {end}{_where(tail)}, but the history "
            f"(accounts.duckdb) holds acknowledged commands up to record {history_idx}: "
            f"records {end + 1} to {history_idx} are missing from the journal",
            record=end + 1,
        )  # fmt: skip
