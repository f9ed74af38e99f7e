"""`--repair`: set a damaged journal aside and start from what is valid, saying what is lost.

Nothing is overwritten in place. Whatever is set aside goes to
`journal/damaged-<UTC time>/`: a damaged segment whole (its valid part, if any, is
written to a new file that then replaces the old name atomically), the segments after
it, snapshots the repaired journal does not reach, and the history rows (events,
commands) of the records lost, as JSON Lines; `REPAIR.txt` there says what was done.
Run with the data directory locked (no server on it).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .history import History
from .journal import (
    QUOTE_LINE,
    JournalDamaged,
    Tear,
    fsync_dir,
    owner_only,
    parse_record,
    segment_name,
    segments,
)
from .recovery import recover
from .snapshots import SnapshotStore

MAX_STEPS = 100  # each step removes damage or adds a missing segment: ends well before


class RepairError(Exception):
    """The data directory could not be repaired (one line, for the console)."""


@dataclass
class _Lost:
    """What the moved-aside parts of the journal held."""

    lines: int = 0
    valid: int = 0
    first: int | None = None
    last: int | None = None
    times: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, path: Path, offset: int, first_index: int) -> None:
        index = first_index
        with open(path, "rb") as f:
            f.seek(offset)
            for raw in f:
                self.lines += 1
                self.first = index if self.first is None else min(self.first, index)
                self.last = index if self.last is None else max(self.last, index)
                index += 1
                q = QUOTE_LINE.match(raw)
                rec = None if q is not None else parse_record(raw)[0]
                if q is None and rec is None:
                    continue
                self.valid += 1
                self.times.append(int(q.group(1)) if q is not None else rec["t"])  # type: ignore[index]
                self.kinds["quote" if q is not None else str(rec.get("type"))] += 1  # type: ignore[union-attr]

    def describe(self) -> str:
        span = f", journaled {_span(self.times)}" if self.times else ""
        kinds = ", ".join(f"{k} x{n}" for k, n in self.kinds.most_common())
        return (f"lost {self.lines} journal record(s), {self.first} to {self.last} "
                f"({self.valid} readable, {self.lines - self.valid} damaged){span}"
                + (f": {kinds}" if kinds else ""))  # fmt: skip


def _utc(t_us: int) -> str:
    return datetime.fromtimestamp(t_us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(times: list[int]) -> str:
    return f"from {_utc(min(times))} to {_utc(max(times))}"


class _Repair:
    def __init__(self, data_dir: Path, say: Callable[[str], object]) -> None:
        self.journal = data_dir / "journal"
        self.snapshots = SnapshotStore(data_dir / "snapshots")
        self.say = say
        self.lines: list[str] = []
        self.lost = _Lost()
        self._aside: Path | None = None

    def note(self, line: str) -> None:
        self.lines.append(line)
        self.say(f"repair: {line}")

    @property
    def aside(self) -> Path:
        """journal/damaged-<UTC time>/, created on first use."""
        if self._aside is None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            path, n = self.journal / f"damaged-{stamp}", 1
            while path.exists():
                n += 1
                path = self.journal / f"damaged-{stamp}-{n}"
            path.mkdir(mode=0o700, parents=True)
            fsync_dir(self.journal)
            self._aside = path
        return self._aside

    # ------------------------------------------------------------- the journal
    def fix(self, damage: JournalDamaged) -> None:
        """Act on one JournalDamaged: set the damaged part aside, or resume after a gap."""
        self.note(f"found: {damage.what}")
        if damage.cut is not None:
            path, offset = damage.cut
            first = int(path.name[8:20])
            for seg_first, seg in reversed(segments(self.journal)):
                if seg_first > first:  # the later ones first: a crash leaves a prefix
                    self.lost.add(seg, 0, seg_first)
                    self._move(seg)
            self._cut(path, offset, (damage.record or first) if offset else first)
        elif damage.resume is not None:
            path = self.journal / segment_name(damage.resume)
            self.journal.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(path, "xb", opener=owner_only):
                pass
            fsync_dir(self.journal)
            self.note(f"the journal continues at record {damage.resume} (new, empty {path}); "
                      "the records it lacks before that are in the snapshot")  # fmt: skip
        else:
            raise RepairError(f"cannot repair: {damage.what}")

    def tear(self, tear: Tear, warn: Callable[[str], None]) -> str:
        """`recover`'s on_tear: a torn tail is set aside like damage, not cut in place."""
        self.note(f"found a torn tail: {tear.describe()}")
        self._cut(tear.path, tear.offset, tear.record)
        return "torn tail set aside"

    def _move(self, path: Path) -> None:
        target = self.aside / path.name
        os.rename(path, target)
        fsync_dir(self.aside)
        fsync_dir(path.parent)
        self.note(f"moved {path} to {target}")

    def _cut(self, path: Path, offset: int, record: int) -> None:
        """Keep `path` whole in the aside directory and its first `offset` bytes under its
        own name (a new file replacing it atomically; never a moment without it)."""
        self.lost.add(path, offset, record)
        if offset == 0:
            self._move(path)
            return
        target = self.aside / path.name
        os.link(path, target)
        fsync_dir(self.aside)
        tmp = path.with_name(path.name + ".repair")
        with open(path, "rb") as src, open(tmp, "wb", opener=owner_only) as out:
            out.write(src.read(offset))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
        first = int(path.name[8:20])
        self.note(f"moved {path} to {target}, and wrote its first {offset} bytes (records "
                  f"{first} to {record - 1}) back to {path}")  # fmt: skip

    # ------------------------------------------------------------- the history
    def trim_history(self, history: History, index: int, seq: int) -> None:
        """Set aside the history's commands after journal record `index` and its events
        after `seq`: acknowledged once, they are not in the repaired journal."""
        cur = history.cursor()
        try:
            inputs = cur.execute("SELECT idx, type, account, body FROM inputs WHERE idx > $i "
                                 "ORDER BY idx", {"i": index}).fetchall()  # fmt: skip
            events = cur.execute("SELECT seq, body FROM events WHERE seq > $s ORDER BY seq",
                                 {"s": seq}).fetchall()  # fmt: skip
            if not inputs and not events:
                return
            files = []
            for name, rows in (("history-inputs.jsonl", [r[-1] for r in inputs]),
                               ("history-events.jsonl", [r[-1] for r in events])):  # fmt: skip
                if rows:
                    files.append(self._write_lines(name, rows))
            cur.execute("BEGIN TRANSACTION")
            cur.execute("DELETE FROM inputs WHERE idx > $i", {"i": index})
            cur.execute("DELETE FROM events WHERE seq > $s", {"s": seq})
            cur.execute("COMMIT")
        finally:
            cur.close()
        history.max_idx, history.max_seq = min(history.max_idx, index), min(history.max_seq, seq)
        what = []
        if inputs:
            kinds = ", ".join(f"{k} x{n}" for k, n in Counter(r[1] for r in inputs).most_common())
            accounts = sorted({r[2] for r in inputs if r[2]})
            if accounts:
                kinds += f"; accounts {', '.join(accounts)}"
            what.append(f"{len(inputs)} acknowledged command(s), records {inputs[0][0]} to "
                        f"{inputs[-1][0]} ({kinds})")  # fmt: skip
        if events:
            what.append(f"{len(events)} event(s), seq {events[0][0]} to {events[-1][0]}")
        lag = "" if self.lost.lines else " (it may lack the last ones before a crash)"
        to = " and ".join(str(f) for f in files)
        self.note(f"lost, as the history (accounts.duckdb) recorded them{lag}: "
                  f"{' and '.join(what)}; set aside to {to}")  # fmt: skip

    def _write_lines(self, name: str, rows: list[str]) -> Path:
        path = self.aside / name
        with open(path, "x", encoding="utf-8", opener=owner_only) as f:
            f.write("".join(r + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())
        return path

    def drop_snapshots_beyond(self, index: int) -> None:
        """Snapshots after the repaired journal's end describe states it cannot reach."""
        for snap in self.snapshots.indexes():
            if snap > index:
                self._move(self.snapshots.path(snap))


def repair_journal(data_dir: Path, say: Callable[[str], object] = print) -> list[str]:
    """Repair the journal of `data_dir` (see the module); returns the report's lines."""
    data_dir = Path(data_dir)
    job = _Repair(data_dir, say)
    try:
        con = duckdb.connect(str(data_dir / "accounts.duckdb"))
        history = History(con)
    except duckdb.Error as e:
        raise RepairError(f"cannot open {data_dir / 'accounts.duckdb'}: {e}") from None
    try:
        for _ in range(MAX_STEPS):
            try:
                rec = recover(job.journal, job.snapshots, history_seq=history.max_seq,
                              warn=lambda m: None, verify=False, on_tear=job.tear)  # fmt: skip
                break
            except JournalDamaged as damage:
                job.fix(damage)
        else:
            raise RepairError("cannot repair the journal: it is still damaged after "
                              f"{MAX_STEPS} steps")  # fmt: skip
        if job.lost.lines:
            job.note(job.lost.describe())
        job.drop_snapshots_beyond(rec.index)
        job.trim_history(history, rec.index, rec.engine.seq)
    except OSError as e:
        raise RepairError(f"cannot repair: {e.strerror or e}: {e.filename}") from None
    except duckdb.Error as e:
        raise RepairError(f"cannot repair the history (accounts.duckdb): {e}") from None
    finally:
        con.close()
    if not job.lines:
        job.note("nothing to repair: the journal is whole and holds everything the history "
                 "says was acknowledged")  # fmt: skip
        return job.lines
    job.note(f"starting from journal record {rec.index} (snapshot "
             f"{rec.snapshot_index or 'none'} + {rec.replayed} journal records); what was set "
             f"aside is in {job.aside}")  # fmt: skip
    with open(job.aside / "REPAIR.txt", "x", encoding="utf-8", opener=owner_only) as f:
        f.write("\n".join(job.lines) + "\n")
    return job.lines
