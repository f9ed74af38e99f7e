"""`workbench simulate SCENARIO.jsonl`: run a scenario file through the engine.

Writes the engine's events as JSON Lines, then one `account_state` line per account.
Same file, same output, byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from .engine import BadInput, BadQuote, Engine


class ScenarioError(ValueError):
    """A scenario line that cannot be run; the message names the line."""


def parse_line(text: str, lineno: int) -> dict[str, Any] | None:
    """One scenario line as a record (None for a blank line)."""
    if not text.strip():
        return None
    try:
        rec = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise ScenarioError(
            f"line {lineno}: not valid JSON ({e.msg} at column {e.colno})"
        ) from None
    if not isinstance(rec, dict):
        raise ScenarioError(f"line {lineno}: a line must be a JSON object")
    if "type" not in rec:
        raise ScenarioError(f"line {lineno}: missing 'type'")
    t = rec.get("t")
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise ScenarioError(f"line {lineno}: 't' must be a non-negative integer (µs), not {t!r}")
    return rec


def run(lines: Iterable[str], out: TextIO, warn: TextIO = sys.stderr) -> Engine:
    """Run scenario lines through a new engine, writing events to `out`."""
    engine = Engine()
    engine.subscribe(lambda ev: out.write(json.dumps(ev) + "\n"))
    last_t = -1
    for lineno, text in enumerate(lines, start=1):
        rec = parse_line(text, lineno)
        if rec is None:
            continue
        t = rec["t"]
        if rec["type"] == "quote":
            try:
                engine.apply(rec)
            except BadQuote as e:
                warn.write(f"line {lineno}: quote rejected, nothing changed: {e}\n")
            except BadInput as e:
                raise ScenarioError(f"line {lineno}: {e}") from None
        else:
            if t < last_t:
                raise ScenarioError(
                    f"line {lineno}: t {t} is before the previous input's t {last_t}"
                )
            try:
                engine.apply(rec)
            except BadInput as e:
                raise ScenarioError(f"line {lineno}: {e}") from None
        last_t = max(last_t, t)
    write_states(engine, out)
    return engine


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
    src: Any
    try:
        if args.scenario == "-":
            src = sys.stdin
        elif Path(args.scenario).is_dir():  # a server's journal: its segments in order
            from .live.journal import iter_lines, segments

            if not segments(Path(args.scenario)):
                print(f"workbench simulate: {args.scenario} holds no journal segments",
                      file=sys.stderr)  # fmt: skip
                return 2
            src = contextlib.closing(iter_lines(Path(args.scenario)))
        else:
            src = open(args.scenario, encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        print(f"workbench simulate: cannot read {args.scenario}: {e.strerror}", file=sys.stderr)
        return 2
    out_path = Path(args.out) if args.out else None
    tmp = out_path.with_name(out_path.name + ".part") if out_path else None
    try:
        sink = open(tmp, "w", encoding="utf-8", newline="\n") if tmp else _stdout()  # noqa: SIM115
        with src as lines, sink as out:
            run(lines, out)
    except BrokenPipeError:  # the reader went away (`| head`): not an error
        sys.stderr.close()
        return 0
    except ScenarioError as e:
        print(f"workbench simulate: {args.scenario}: {e}", file=sys.stderr)
        if tmp:
            tmp.unlink(missing_ok=True)
        return 2
    if tmp and out_path:
        tmp.replace(out_path)
    return 0


class _stdout:
    """Standard output as a context manager that is not closed on exit."""

    def __enter__(self) -> TextIO:
        return sys.stdout

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
