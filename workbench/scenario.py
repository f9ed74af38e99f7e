"""`workbench simulate SCENARIO.jsonl`: run a scenario file through the engine.

Writes the engine's events as JSON Lines, then one `account_state` line per account.
Same file, same output, byte for byte. An error names the file and line (for a server's
journal: the segment, its line and the record number); a journal's torn tail is left
out with a warning, as the server cuts it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from .engine import BadInput, BadQuote, Engine


class ScenarioError(ValueError):
    """A scenario line that cannot be run; the message names the line."""


def parse_line(text: str, lineno: int, where: str | None = None) -> dict[str, Any] | None:
    """One scenario line as a record (None for a blank line); errors start with `where`
    (default "line N")."""
    if not text.strip():
        return None
    where = f"line {lineno}" if where is None else where
    try:
        rec = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(rec, dict):
        raise ScenarioError(f"{where}: a line must be a JSON object")
    if "type" not in rec:
        raise ScenarioError(f"{where}: missing 'type'")
    t = rec.get("t")
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise ScenarioError(f"{where}: 't' must be a non-negative integer (µs), not {t!r}")
    return rec


def run(
    lines: Iterable[str], out: TextIO, warn: TextIO = sys.stderr, *, source: str | None = None
) -> Engine:
    """Run scenario lines through a new engine, writing events to `out`; messages name
    the line (and `source`, the file, when given)."""
    prefix = f"{source}: " if source else ""
    return _run(((text, n) for n, text in enumerate(lines, start=1)), out, warn,
                lambda n: f"{prefix}line {n}")  # fmt: skip


def run_journal(path: Path, out: TextIO, warn: TextIO = sys.stderr) -> Engine:
    """Run a server's journal (its directory, or one segment) like a scenario file: a
    torn tail is left out with a warning; damage raises JournalDamaged."""
    from .live.journal import read_lines

    lines = read_lines(path, lambda msg: warn.write(f"{msg}\n"))
    return _run(((text, (seg, n, index)) for text, seg, n, index in lines), out, warn,
                lambda w: f"{w[0]}: line {w[1]} (record {w[2]})")  # fmt: skip


def _run(
    lines: Iterable[tuple[str, Any]], out: TextIO, warn: TextIO, where: Callable[[Any], str]
) -> Engine:
    """Run (text, position) lines; `where(position)` says where a line is, for messages."""
    engine = Engine()
    engine.subscribe(lambda ev: out.write(json.dumps(ev) + "\n"))
    last_t = -1
    for lineno, (text, pos) in enumerate(lines, start=1):
        try:
            rec = parse_line(text, lineno, "")
        except ScenarioError as e:
            raise ScenarioError(f"{where(pos)}{e}") from None
        if rec is None:
            continue
        t = rec["t"]
        if rec["type"] == "quote":
            try:
                engine.apply(rec)
            except BadQuote as e:
                warn.write(f"{where(pos)}: quote rejected, nothing changed: {e}\n")
            except BadInput as e:
                raise ScenarioError(f"{where(pos)}: {e}") from None
        else:
            if t < last_t:
                raise ScenarioError(
                    f"{where(pos)}: t {t} is before the previous input's t {last_t}"
                )
            try:
                engine.apply(rec)
            except BadInput as e:
                raise ScenarioError(f"{where(pos)}: {e}") from None
        last_t = max(last_t, t)
    write_states(engine, out)
    return engine


def text_lines(raw: Iterable[bytes], source: str) -> Iterator[str]:
    """Lines of a scenario file read as bytes, decoded; a binary or non-UTF-8 line is a
    ScenarioError naming it (not a traceback)."""
    for lineno, line in enumerate(raw, start=1):
        if b"\0" in line:
            raise ScenarioError(f"{source}: line {lineno}: binary data (NUL bytes): "
                                "not a scenario (JSON Lines text)")  # fmt: skip
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(
                f"{source}: line {lineno}: not UTF-8 text (byte {e.start + 1} of the line): "
                "not a scenario (JSON Lines text)"
            ) from None


def write_states(engine: Engine, out: TextIO) -> None:
    """The closing `account_state` lines, numbered after the last event."""
    seq = engine.seq
    for acct in engine.accounts:
        seq += 1
        line = {"seq": seq, "t": max(engine.now, 0), "type": "account_state"}
        line.update(engine.account_state(acct.name))
        out.write(json.dumps(line) + "\n")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "simulate",
        help="run a scenario (JSON Lines of inputs) and print the engine's events",
        description="Run SCENARIO.jsonl through the engine; events go to stdout or --out.",
    )
    p.add_argument("scenario", help="the scenario file (JSON Lines), a server's journal "
                   "directory (data/journal), or - for standard input")  # fmt: skip
    p.add_argument("--out", help="write the events to this file instead of standard output")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from .live.journal import SEGMENT, JournalDamaged, segments

    name, path = args.scenario, Path(args.scenario)
    journal = name != "-" and (path.is_dir() or SEGMENT.match(path.name) is not None)
    if path.is_dir() and not segments(path):
        return _fail(f"{name} holds no journal segments")
    src: BinaryIO | None = None
    try:
        src = sys.stdin.buffer if name == "-" else None if journal else open(path, "rb")  # noqa: SIM115
    except OSError as e:
        return _fail(f"cannot read {name}: {e.strerror}")
    out_path = Path(args.out) if args.out else None
    tmp = out_path.with_name(out_path.name + ".part") if out_path else None
    try:
        sink = open(tmp, "w", encoding="utf-8", newline="\n") if tmp else _stdout()  # noqa: SIM115
        with sink as out:
            if journal:
                run_journal(path, out)
            else:
                source = "standard input" if name == "-" else name
                run(text_lines(src, source), out, source=source)  # type: ignore[arg-type]
    except BrokenPipeError:  # the reader went away (`| head`): not an error
        sys.stderr.close()
        return 0
    except (ScenarioError, JournalDamaged, OSError) as e:
        if tmp:
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            return _fail(f"cannot read or write {e.filename or name}: {e.strerror or e}")
        return _fail(e.what if isinstance(e, JournalDamaged) else str(e))
    finally:
        if src is not None and src is not sys.stdin.buffer:
            src.close()
    if tmp and out_path:
        tmp.replace(out_path)
    return 0


def _fail(msg: str) -> int:
    print(f"workbench simulate: {msg}", file=sys.stderr)
    return 2


class _stdout:
    """Standard output as a context manager that is not closed on exit."""

    def __enter__(self) -> TextIO:
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
