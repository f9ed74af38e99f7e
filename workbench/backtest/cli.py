"""`workbench backtest`, `workbench sweep` and `workbench paper`: strategies from the shell.

    workbench backtest mystrats.py:Dip captures --param pullback=0.001 --report dip.html
    workbench sweep workbench.backtest.examples:Bracket captures --grid band=0.002,0.004
    workbench paper mystrats.py:Dip --server http://127.0.0.1:8000 --email me@example.com

DATA is what `backtest()` reads: a tick store, Parquet file(s) or folder, `*.ws.gz`
captures or their folder, a scenario file, or `captures` for the real captures beside the
repository. A mistake in what was asked (module, class, parameter, data, symbol) is one
line on stderr and exit code 2; a strategy that raises shows its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .cli_args import UsageError, build, load_strategy, parse_grid, parse_params
from .cli_show import show_stats, show_table

PASSWORD_ENV = "WORKBENCH_PASSWORD"
TOKEN_ENV = "WORKBENCH_TOKEN"


def add_parser(subparsers: Any) -> None:
    """Add `backtest`, `sweep` and `paper` to the `workbench` command."""
    b = subparsers.add_parser("backtest", help="backtest a strategy on recorded quotes")
    _strategy_args(b)
    _data_args(b)
    b.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter of the strategy; repeat for more")  # fmt: skip
    _run_args(b)
    b.set_defaults(func=_backtest)

    s = subparsers.add_parser("sweep", help="backtest every combination of parameters")
    _strategy_args(s)
    _data_args(s)
    s.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="a parameter's values; repeat for more (all combinations run)")  # fmt: skip
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter fixed for every run")  # fmt: skip
    s.add_argument("--range", action="append", dest="ranges", metavar="FROM..TO",
                   help="a time range of its own (repeat); each runs separately")  # fmt: skip
    s.add_argument("--workers", type=int, help="processes (default: all cores; 0: this one)")
    s.add_argument("--balance", help="each account's starting balance (USD)")
    s.add_argument("--out", type=Path, help="also write the whole table (.csv or .parquet)")
    s.add_argument("--all-columns", action="store_true", help="print every stats column")
    s.set_defaults(func=_sweep)

    p = subparsers.add_parser("paper", help="paper-trade a strategy live on a workbench server")
    _strategy_args(p)
    p.add_argument("--server", default="http://127.0.0.1:8000", help="the server's URL")
    p.add_argument("--email", help=f"the account's email (password: --password or ${PASSWORD_ENV})")
    p.add_argument("--password", help=f"better: ${PASSWORD_ENV} (not seen by `ps`)")
    p.add_argument("--token", help=f"a token instead of email and password (or ${TOKEN_ENV})")
    p.add_argument("--symbols", nargs="+", metavar="SYM", help="instruments (default: all)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="default: until Ctrl-C")
    p.add_argument("--bars", help="bar interval for on_bar (default: the strategy's `bars`)")
    p.add_argument("--report", type=Path, help="write the run's HTML report here")
    p.add_argument("--save", type=Path, help="save the run's Result to this folder")
    p.add_argument("--overwrite", action="store_true", help="--save over an earlier result")
    p.set_defaults(func=_paper)


def _strategy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("strategy", metavar="STRATEGY", help="module:Class or path/to/file.py:Class")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", metavar="DATA", help="tick store, Parquet, captures (*.ws.gz or "
                   "'captures'), scenario file")  # fmt: skip
    p.add_argument("--symbols", nargs="+", metavar="SYM", help="default: all of the data's")
    p.add_argument("--from", dest="start", metavar="TIME", help="ISO time or µs (inclusive)")
    p.add_argument("--to", dest="end", metavar="TIME", help="ISO time or µs (exclusive)")
    p.add_argument("--bars", help="bar interval for on_bar (default: the strategy's `bars`)")


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--balance", help="the starting balance (USD)")
    p.add_argument("--margin-mode", choices=("isolated", "cross"), default="isolated")
    p.add_argument("--report", type=Path, help="write the HTML report here")
    p.add_argument("--save", type=Path, help="save the Result to this folder")
    p.add_argument("--overwrite", action="store_true", help="--save over an earlier result")
    p.add_argument("--progress", action="store_true", help="a progress bar")


# ---------------------------------------------------------------------- commands
def _backtest(args: argparse.Namespace) -> int:
    def run() -> int:
        _check_outputs(args)
        factory, module = load_strategy(args.strategy)
        strategy = build(factory, parse_params(factory, args.param))
        from . import backtest

        wall = time.perf_counter()
        res = _guard(module, lambda: backtest(
            strategy, _data(args.data), symbols=args.symbols, start=_time(args.start),
            end=_time(args.end), balance=args.balance, margin_mode=args.margin_mode,
            bars=args.bars, progress=args.progress,
        ))  # fmt: skip
        print(f"backtest {args.strategy} on {args.data}: {res.quotes:,} quotes, "
              f"{len(res.raw_events):,} events in {time.perf_counter() - wall:.2f} s")  # fmt: skip
        show_stats(res.stats)
        _outputs(res, args)
        return 0

    return _main("backtest", run)


def _sweep(args: argparse.Namespace) -> int:
    def run() -> int:
        factory, module = load_strategy(args.strategy)
        grid = parse_grid(factory, args.grid)
        if not grid:
            raise UsageError("give at least one --grid NAME=V1,V2")
        fixed = parse_params(factory, args.param)
        both = set(grid) & set(fixed)
        if both:
            raise UsageError(f"{', '.join(sorted(both))}: given by --grid and --param both")
        build(factory, {**fixed, **{k: v[0] for k, v in grid.items()}})  # a bad value: now
        from . import sweep

        grid = {**grid, **{k: [v] for k, v in fixed.items()}}
        ranges = [_range(r) for r in args.ranges] if args.ranges else None
        if ranges is None and (args.start or args.end):
            ranges = [(_time(args.start), _time(args.end))]
        options = {"balance": args.balance} if args.balance else {}
        if args.bars:
            options["bars"] = args.bars
        table = _guard(module, lambda: sweep(
            factory, grid, _data(args.data), symbols=args.symbols, ranges=ranges,
            workers=args.workers, progress=sys.stderr.isatty(), **options,
        ))  # fmt: skip
        show_table(table, list(grid), args.all_columns)
        if args.out is not None:
            _write_table(table, args.out)
        return 0

    return _main("sweep", run)


def _paper(args: argparse.Namespace) -> int:
    def run() -> int:
        _check_outputs(args)
        factory, module = load_strategy(args.strategy)
        strategy = build(factory, parse_params(factory, args.param))
        token = args.token or os.environ.get(TOKEN_ENV)
        password = args.password or os.environ.get(PASSWORD_ENV)
        if token is None and (args.email is None or password is None):
            raise UsageError(f"give --email and --password (or ${PASSWORD_ENV}), or --token")
        logging.getLogger("workbench.live").setLevel(logging.INFO)  # what it does, as it does
        from ..client import ApiError
        from .live import LiveRunner

        try:
            runner = LiveRunner(strategy, args.server, email=None if token else args.email,
                                password=None if token else password, token=token,
                                symbols=args.symbols, bars=args.bars)  # fmt: skip
        except ApiError as e:
            raise UsageError(f"the server refused: {e}") from None
        except ValueError as e:
            raise UsageError(str(e)) from None
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        res = _guard(module, lambda: runner.run(args.duration))
        print(f"paper {args.strategy} on {runner.url} as {runner.account}: {res.quotes:,} "
              f"quotes, {len(res.raw_events):,} events")  # fmt: skip
        show_stats(res.stats)
        _outputs(res, args)
        return 0

    return _main("paper", run)


# ----------------------------------------------------------------------- helpers
def _main(name: str, run: Any) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # rejections and such
    try:
        return int(run())
    except UsageError as e:
        print(f"workbench {name}: {e}", file=sys.stderr)
        return 2
    except _StrategyFailed as e:
        traceback.print_exception(e.__cause__)
        print(f"workbench {name}: the strategy raised {type(e.__cause__).__name__} "
              "(traceback above)", file=sys.stderr)  # fmt: skip
        return 1
    except BrokenPipeError:  # `| head`: the reader is gone, and so is the point of writing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ConnectionError, OSError, RuntimeError) as e:
        print(f"workbench {name}: {e}", file=sys.stderr)
        return 1


class _StrategyFailed(Exception):
    """The strategy's own code raised (its traceback is shown)."""


def _guard(module: Any, fn: Any) -> Any:
    """fn(); an error from the strategy's module is its bug (traceback), any other a bad
    input (one line)."""
    try:
        return fn()
    except Exception as e:
        files = {f.filename for f in traceback.extract_tb(e.__traceback__)}
        if getattr(module, "__file__", None) in files:
            raise _StrategyFailed() from e
        if isinstance(e, ValueError | TypeError | LookupError | FileNotFoundError):
            raise UsageError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        raise


def _data(data: str) -> Any:
    if data != "captures":
        return data
    from ..demo import shared_captures

    files = shared_captures()
    if not files:
        raise UsageError("no real captures beside the repository ($WORKBENCH_SHARED_DATA or "
                         "../shared/data): give a file or folder")  # fmt: skip
    return files


def _time(text: str | None) -> Any:
    if text is None:
        return None
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def _range(text: str) -> tuple[Any, Any]:
    a, sep, b = text.partition("..")
    if not sep:
        raise UsageError(f"--range takes FROM..TO (either may be left out), not {text!r}")
    return _time(a or None), _time(b or None)


def _outputs(res: Any, args: argparse.Namespace) -> None:
    if args.report is not None:
        print(f"report: {res.report(args.report)}")
    if args.save is not None:
        try:
            print(f"saved: {res.save(args.save, overwrite=args.overwrite)}")
        except (FileExistsError, ValueError) as e:
            raise UsageError(str(e).replace("overwrite=True", "--overwrite")) from None


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse a --save that would be refused after the run, before it."""
    s = args.save
    if s is not None and s.exists() and (s.is_file() or any(s.iterdir())) and not args.overwrite:
        raise UsageError(f"--save {s}: it exists and is not empty (--overwrite replaces a "
                         "saved result)")  # fmt: skip


def _write_table(table: Any, out: Path) -> None:
    if out.suffix == ".parquet":
        table.write_parquet(out)
    elif out.suffix == ".csv":
        import polars as pl

        spans = [pl.col(c).cast(pl.Int64).alias(f"{c}_us") for c, t in table.schema.items()
                 if t == pl.Duration]  # fmt: skip
        table.with_columns(spans).drop([c for c, t in table.schema.items()
                                        if t == pl.Duration]).write_csv(out)  # fmt: skip
    else:
        raise UsageError(f"--out {out}: write .csv or .parquet")
    print(f"table: {out}")
