"""The `workbench` command: each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

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
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
