"""The `workbench` command: each subcommand lives in its own module.

Packages beside the library add subcommands through the `workbench.commands` entry point
group (the server's `workbench serve`), so the library never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

# Modules that define `add_parser(subparsers)`; each sets `func` on its parser.
COMMANDS = [
    "workbench.importers.cli",
    "workbench.scenario",
    "workbench.demo",
    "workbench.recorder.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Simulation and paper-trading workbench for leveraged CFD trading.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).add_parser(sub)
    for ep in sorted(entry_points(group="workbench.commands"), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
