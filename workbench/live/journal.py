"""The input journal: every engine input as one scenario line, in segment files.

A segment is `journal-<index of its first record, 12 digits>.jsonl`; record indexes
count from 1 over all segments, so `cat` of the segments in name order is a scenario
that `workbench simulate` runs. Appends are made durable by `sync()` (fsync), which the
sequencer calls once per group of records (group commit). A snapshot taken after record
N starts a new segment at N + 1, so recovery reads only the segments after it.

Reading is forgiving at the tail: a torn last line (no newline, or not JSON) is cut
off with a warning, never a crash; acknowledged records are always whole lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
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


def read_tail(
    directory: Path, after: int, warn: Callable[[str], None] = log.warning
) -> JournalTail:
    """Records with index > `after`, repairing a torn tail (the file is cut at the tear).

    A bad line is a tear: the records before it are kept, the rest of that segment is cut
    off, and any later segments are set aside (renamed `*.orphaned`), all with a warning.
    """
    out = JournalTail(next_index=after + 1)
    segs = segments(directory)
    expected: int | None = None
    for pos, (first, path) in enumerate(segs):
        later = segs[pos + 1 :]
        if expected is not None and first != expected:
            _cut(out, warn, later=[(first, path), *later],
                 why=f"{path.name} starts at record {first}, expected {expected}")  # fmt: skip
            break
        if later and later[0][0] - 1 <= after:
            expected = later[0][0]  # wholly before `after`: not read
            continue
        index, good_end, torn = first, 0, None
        seen: dict[bytes, str] = {}  # symbol names, decoded once
        units = _PriceCache().units
        with open(path, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    torn = "a torn last line (no newline)"
                    break
                if index <= after:
                    pass  # before the snapshot: only counted
                elif (q := QUOTE_LINE.match(raw)) is not None:
                    t, sym, bid, ask = q.groups()
                    out.records.append((index, (seen.get(sym) or seen.setdefault(sym, sym.decode()),
                                                int(t), units(bid), units(ask))))  # fmt: skip
                else:
                    try:
                        rec = json.loads(raw, parse_float=Decimal)
                    except ValueError:
                        torn = f"record {index} is not valid JSON"
                        break
                    if not isinstance(rec, dict) or not isinstance(rec.get("t"), int):
                        torn = f"record {index} is not an input record"
                        break
                    out.records.append((index, rec))
                index += 1
                good_end += len(raw)
        if torn is not None:
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
            _cut(out, warn, later=later,
                 why=f"{path.name}: {torn}; cut at byte {good_end}")  # fmt: skip
            out.next_index = max(out.next_index, index)
            break
        out.next_index = max(out.next_index, index)
        expected = index
    return out


def _cut(
    out: JournalTail, warn: Callable[[str], None], later: list[tuple[int, Path]], why: str
) -> None:
    msg = f"journal tail skipped: {why}"
    if later:
        for _, p in later:
            p.rename(p.with_name(p.name + ".orphaned"))
        msg += f"; set aside {len(later)} later segment(s) as *.orphaned"
    out.warnings.append(msg)
    warn(msg)


def iter_lines(directory: Path) -> Iterator[str]:
    """Every journal line in order (for `workbench simulate` of a journal directory)."""
    for _, path in segments(directory):
        with open(path, encoding="utf-8") as f:
            yield from f


class JournalWriter:
    """Appends scenario lines to the current segment; `sync()` makes them durable."""

    def __init__(self, directory: Path, next_index: int) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.next_index = next_index
        segs = segments(directory)
        if segs and segs[-1][0] <= next_index:
            path = segs[-1][1]  # read_tail left it ending at a whole line
        else:
            path = directory / segment_name(next_index)
        self._f = open(path, "ab")  # noqa: SIM115 - held open for the writer's life
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
        self._f = open(path, "ab")  # noqa: SIM115
        fsync_dir(self.directory)

    def close(self) -> None:
        self.sync()
        self._f.close()
