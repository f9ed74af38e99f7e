"""The input journal: every engine input as one scenario line, in segment files.

A segment is `journal-<index of its first record, 12 digits>.jsonl`; record indexes
count from 1 over all segments, so `cat` of the segments in name order is a scenario
that `workbench simulate` runs. Appends are made durable by `sync()` (fsync), which the
sequencer calls once per group of records (group commit). A snapshot taken after record
N starts a new segment at N + 1, so recovery reads only the segments after it.

Reading forgives a torn tail only: an unacknowledged last write (the last segment's
lines from a bad one on, with no valid record after it) is cut off with a warning.
Any other damage (a bad record followed by valid ones, a missing segment, a journal
that ends before what a snapshot covers) raises JournalDamaged and changes nothing:
acknowledged records are never dropped silently (see repair.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SEGMENT = re.compile(r"^journal-(\d{12})\.jsonl$")
#: A quote line exactly as the sequencer writes it (anything else goes to the JSON parser).
QUOTE_LINE = re.compile(
    rb'\{"t": (\d+), "type": "quote", "symbol": "([A-Za-z0-9_.-]+)", '
    rb'"bid": "(\d+(?:\.\d{1,8})?)", "ask": "(\d+(?:\.\d{1,8})?)"\}\n\Z'
)


def _units(text: bytes) -> int:
    """b"61837.63" -> 6183763000000: a price in 1e-8 units (at most 8 decimals)."""
    whole, _, frac = text.partition(b".")
    return int(whole) * 100_000_000 + (int(frac.ljust(8, b"0")) if frac else 0)


class _PriceCache:
    """`_units` remembered: a journal's prices repeat (quotes move a tick or two)."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self.known: dict[bytes, int] = {}

    def units(self, text: bytes) -> int:
        n = self.known.get(text)
        if n is None:
            if len(self.known) >= self.size:
                self.known.clear()
            n = self.known[text] = _units(text)
        return n


def segment_name(first_index: int) -> str:
    return f"journal-{first_index:012d}.jsonl"


def segments(directory: Path) -> list[tuple[int, Path]]:
    """The journal segments in order: (index of the first record, path)."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = SEGMENT.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def fsync_dir(directory: Path) -> None:
    """Make a file creation or rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalDamaged(Exception):
    """Journal damage that is not a torn tail: acknowledged records would be lost.

    Nothing is changed when this is raised. `cut` is where the valid journal ends (a
    segment and a byte offset: from there on, that segment and all later ones are
    damaged or cannot be applied); `resume` is the record a new, empty segment would
    have to start at for the journal to continue after a snapshot; `record` is the
    first record concerned. `repair.repair` acts on these."""

    def __init__(
        self,
        what: str,
        *,
        cut: tuple[Path, int] | None = None,
        resume: int | None = None,
        record: int | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.cut = cut
        self.resume = resume
        self.record = record

    def __str__(self) -> str:
        return f"journal damaged: {self.what}; nothing was changed. {REPAIR_HINT}"


#: How to proceed, said with every JournalDamaged.
REPAIR_HINT = (
    "Start again with --repair (workbench serve --repair) to set the damaged part aside "
    "and start from the valid records before it; it says exactly what is lost"
)


@dataclass
class Tear:
    """A torn tail: from `offset` of the last segment on, an unacknowledged write."""

    path: Path
    offset: int
    record: int  # the index the first torn record would have had
    why: str
    size: int  # bytes from `offset` to the end of the file

    def describe(self) -> str:
        return (f"{self.path} byte {self.offset} (record {self.record}): {self.why}; "
                f"{self.size} byte(s) of an unacknowledged write")  # fmt: skip


@dataclass
class JournalTail:
    """What a scan of the journal found after a given index."""

    #: (index, record): a dict, or for a quote line in the sequencer's own format the
    #: quote as (symbol, t, bid units, ask units), read without a JSON parser
    records: list[tuple[int, dict[str, Any] | tuple[str, int, int, int]]] = field(
        default_factory=list
    )
    next_index: int = 1  # the index the next appended record gets
    warnings: list[str] = field(default_factory=list)
    tear: Tear | None = None  # a torn tail found (not cut by `scan`)
    end: tuple[Path, int] | None = None  # the last segment and where its valid part ends


def parse_record(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One line of a segment as (record, None), or (None, why it is not a whole record)."""
    if not raw.endswith(b"\n"):
        return None, "a last line without its newline"
    try:
        rec = json.loads(raw, parse_float=Decimal)
    except ValueError:  # (UnicodeDecodeError included)
        return None, "not a valid JSON line"
    if not isinstance(rec, dict) or not isinstance(rec.get("t"), int):
        return None, "not an input record (a JSON object with an integer 't')"
    return rec, None


def _check(raw: bytes) -> str | None:
    """Why `raw` is not a whole input record, or None if it is."""
    return None if QUOTE_LINE.match(raw) is not None else parse_record(raw)[1]


def _valid_after(lines: Iterable[bytes]) -> int:
    """How many whole, valid records the rest of a segment holds."""
    return sum(_check(raw) is None for raw in lines)


def _damage(
    path: Path, offset: int, index: int, why: str, following: int, later: int
) -> JournalDamaged:
    after = []
    if following:
        after.append(f"{following} valid record(s) follow it in that segment")
    if later:
        after.append(f"{later} later segment(s) follow it")
    return JournalDamaged(
        f"{path} byte {offset} (record {index}) is {why}, and " + " and ".join(after)
        + ": this is not a torn tail",
        cut=(path, offset), record=index,
    )  # fmt: skip


def _gap(path: Path, first: int, expected: int) -> JournalDamaged:
    """A segment that does not start where the journal before it ends."""
    lo, hi = min(first, expected), max(first, expected) - 1
    what = "are missing" if first > expected else "would be there twice"
    return JournalDamaged(f"{path} starts at record {first}, but the journal before it ends "
                          f"at record {expected - 1}: records {lo} to {hi} {what}",
                          cut=(path, 0), record=lo)  # fmt: skip


def _start(segs: list[tuple[int, Path]], directory: Path, after: int) -> int:
    """The position in `segs` of the segment holding record `after + 1`."""
    need = after + 1
    holding = [pos for pos, (first, _) in enumerate(segs) if first <= need]
    if holding:
        return holding[-1]
    if not segs:
        raise JournalDamaged(
            f"{directory} holds no journal segment, but the snapshot covers records 1 to "
            f"{after}: the journal is missing",
            resume=need, record=need,
        )  # fmt: skip
    first, path = segs[0]
    since = f" (the first after the snapshot of record {after})" if after else ""
    raise JournalDamaged(
        f"{path} starts at record {first}, but the journal must continue from record "
        f"{need}{since}: records {need} to {first - 1} are missing",
        cut=(path, 0), record=need,
    )  # fmt: skip


def scan(directory: Path, after: int) -> JournalTail:
    """Records with index > `after`; changes nothing. A torn tail is returned as `tear`
    (and not read); any other damage raises JournalDamaged.

    The segments are read from the one holding record `after + 1`, each line checked
    (those up to `after` too). A bad line is a torn tail only in the last segment and
    only when no valid record follows it; a segment that does not start where the one
    before it ends, or a journal that ends before record `after`, is damage too."""
    out = JournalTail(next_index=after + 1)
    segs = segments(directory)
    if not segs and after == 0:
        return out
    pos0 = _start(segs, directory, after)
    expected = segs[pos0][0]
    for pos in range(pos0, len(segs)):
        first, path = segs[pos]
        if first != expected:
            raise _gap(path, first, expected)
        index, offset = _read_segment(path, first, after, out, later=len(segs) - pos - 1)
        expected = index
        out.end = (path, offset)
        if out.tear is not None:
            break
    if expected - 1 < after:
        path, offset = out.end  # type: ignore[misc]
        raise JournalDamaged(
            f"the journal ends at record {expected - 1} ({path} byte {offset}), but the "
            f"snapshot covers records up to {after}: records {expected} to {after} are "
            "missing from the journal",
            resume=after + 1, record=expected,
        )  # fmt: skip
    out.next_index = max(out.next_index, expected)
    return out


def _read_segment(
    path: Path, first: int, after: int, out: JournalTail, later: int
) -> tuple[int, int]:
    """Read one segment into `out`; returns (the next index, the end of its valid part)."""
    index, offset = first, 0
    seen: dict[bytes, str] = {}  # symbol names, decoded once
    units = _PriceCache().units
    records = out.records
    try:
        with open(path, "rb") as f:
            for raw in f:
                q = QUOTE_LINE.match(raw)
                if q is not None:
                    if index > after:
                        t, sym, bid, ask = q.groups()
                        records.append((index, (seen.get(sym) or seen.setdefault(sym, sym.decode()),
                                                int(t), units(bid), units(ask))))  # fmt: skip
                else:
                    rec, why = parse_record(raw)
                    if rec is None:
                        following = _valid_after(f)
                        if following or later:
                            raise _damage(path, offset, index, why, following, later)
                        size = path.stat().st_size - offset
                        out.tear = Tear(path, offset, index, why, size)
                        return index, offset
                    if index > after:
                        records.append((index, rec))
                index += 1
                offset += len(raw)
    except OSError as e:
        raise JournalDamaged(f"{path} cannot be read ({e.strerror or e})",
                             record=index) from None  # fmt: skip
    return index, offset


def cut_tear(tear: Tear, warn: Callable[[str], None] = log.warning) -> str:
    """Cut a torn tail off its segment (an unacknowledged write), with a warning."""
    with open(tear.path, "r+b") as f:
        f.truncate(tear.offset)
        f.flush()
        os.fsync(f.fileno())
    msg = f"journal tail cut: {tear.describe()} removed"
    warn(msg)
    return msg


def read_tail(
    directory: Path, after: int, warn: Callable[[str], None] = log.warning
) -> JournalTail:
    """`scan`, then cut a torn tail off (with a warning); damage raises JournalDamaged."""
    out = scan(directory, after)
    if out.tear is not None:
        out.warnings.append(cut_tear(out.tear, warn))
    return out


def read_lines(
    path: Path, warn: Callable[[str], None] = log.warning
) -> Iterator[tuple[str, Path, int, int]]:
    """Every line of a journal directory (or of one segment file) in order, as (text,
    segment, line number in it, record index), for `workbench simulate`. Read-only and
    streaming; a torn tail is left out with a warning; other damage (a gap between
    segments, a journal that does not start at record 1, a bad record followed by valid
    ones) raises JournalDamaged."""
    m = SEGMENT.match(path.name)
    segs = [(int(m.group(1)), path)] if m and path.is_file() else segments(path)
    expected = segs[0][0] if m and path.is_file() else 1
    for pos, (first, path) in enumerate(segs):
        if first != expected:
            raise _gap(path, first, expected)
        index, offset, lineno = first, 0, 0
        with open(path, "rb") as f:
            for raw in f:
                lineno += 1
                why = _check(raw)
                if why is not None:
                    following, later = _valid_after(f), len(segs) - pos - 1
                    if following or later:
                        raise _damage(path, offset, index, why, following, later)
                    tear = Tear(path, offset, index, why, path.stat().st_size - offset)
                    warn(f"journal tail left out: line {lineno} of {tear.describe()}")
                    return
                yield raw.decode(), path, lineno, index
                index += 1
                offset += len(raw)
        expected = index


def iter_lines(directory: Path) -> Iterator[str]:
    """Every journal line in order (see `read_lines`)."""
    for text, *_ in read_lines(directory):
        yield text


def owner_only(path: str | bytes, flags: int) -> int:
    """An `opener` that creates files readable by their owner only."""
    return os.open(path, flags, 0o600)


class JournalWriter:
    """Appends scenario lines to the current segment; `sync()` makes them durable."""

    def __init__(self, directory: Path, next_index: int) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.next_index = next_index
        segs = segments(directory)
        if segs and segs[-1][0] <= next_index:
            path = segs[-1][1]  # recovery left it ending at a whole line
        else:
            path = directory / segment_name(next_index)
        self._f = open(path, "ab", opener=owner_only)  # noqa: SIM115 - held for the writer's life
        fsync_dir(directory)
        self.synced_index = next_index - 1
        self.bytes_since_sync = 0

    def append(self, lines: list[str]) -> None:
        """Write whole lines (without their newline); durable only after `sync()`."""
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        self._f.write(data)
        self.next_index += len(lines)
        self.bytes_since_sync += len(data)

    def sync(self) -> None:
        """Flush and fsync: every appended record is durable when this returns."""
        if self.synced_index == self.next_index - 1:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self.synced_index = self.next_index - 1
        self.bytes_since_sync = 0

    def rotate(self) -> None:
        """Start a new segment at the next index (after a snapshot of what came before)."""
        self.sync()
        path = self.directory / segment_name(self.next_index)
        if Path(self._f.name) == path:
            return
        self._f.close()
        self._f = open(path, "ab", opener=owner_only)  # noqa: SIM115
        fsync_dir(self.directory)

    def close(self) -> None:
        self.sync()
        self._f.close()
