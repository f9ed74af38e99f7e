"""The `workbench` command: each subcommand lives in its own module.

Packages beside the library add subcommands through the `workbench.commands` entry point
group (the server's `workbench serve`), so the library never imports them. Only the
module of the subcommand asked for is imported (all of them for `--help`), so a command
starts without the others' imports.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from types import FrameType

# Subcommand -> the module that defines `add_parser(subparsers)` for it (which sets
# `func` on its parser); one module may define several.
COMMANDS = {
    "import": "workbench.importers.cli",
    "simulate": "workbench.scenario",
    "demo": "workbench.demo",
    "record": "workbench.recorder.cli",
    "backfill-backpack": "workbench.recorder.cli",
    "backtest": "workbench.backtest.cli",
    "sweep": "workbench.backtest.cli",
    "paper": "workbench.backtest.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of `command` alone when it is a known one."""
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Simulation and paper-trading workbench for leveraged CFD trading.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    from importlib.metadata import entry_points  # here: Ctrl-C while it loads is handled

    plugins = sorted(entry_points(group="workbench.commands"), key=lambda e: e.name)
    if command in COMMANDS:
        modules, plugins = [COMMANDS[command]], []
    elif command in {ep.name for ep in plugins}:
        modules, plugins = [], [ep for ep in plugins if ep.name == command]
    else:
        modules = list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    for ep in plugins:
        ep.load()(sub)
    return parser


_interrupted = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Python's own Ctrl-C (raise KeyboardInterrupt), remembered: an import that catches
    it and raises something else instead (pydantic-core building a schema turns it into
    a SchemaError) is still an interruption, not a crash to print."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and not argv[0].startswith("-") else None
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        args = build_parser(command).parse_args(argv)
        code = args.func(args) or 0
    except KeyboardInterrupt:  # Ctrl-C, say while starting: no traceback
        code = _said_interrupted()
    except Exception:
        if not _interrupted:
            raise
        code = _said_interrupted()
    sys.exit(code)


def _said_interrupted() -> int:
    print("workbench: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
    main()
