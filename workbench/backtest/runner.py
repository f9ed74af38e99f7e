"""`backtest(strategy, data, ...)`: run strategies over quotes on the one engine.

This module sets a run up (data source, engine, instruments, accounts, one strategy
instance per account); `loop.Run` feeds it. A run that opens no position warns why it
may be (`diagnose.no_trade_hints`): a `NoTradesWarning`, kept in `result.warnings`.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ..domain import Instrument
from ..engine import Engine
from ..store.reader import TimeLike, to_us
from .bars import interval_us
from .context import Clock
from .data import Source, open_source
from .diagnose import (
    NoQuotesError,
    NoTradesWarning,
    WatchedContext,
    declared_symbols,
    no_trade_hints,
    span_text,
)
from .loop import Run, Slot
from .recording import Recorder
from .result import Result
from .strategy import as_strategy, hook

ACCOUNT_OPTIONS = (
    "margin_mode",
    "balance",
    "maintenance_rate",
    "margin_call_level",
    "stop_out_level",
)


def backtest(
    strategy: Any,
    data: Any,
    *,
    symbols: Sequence[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    balance: object = None,
    margin_mode: str = "isolated",
    accounts: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    instruments: Iterable[Instrument] = (),
    bars: str | int | None = None,
    sample_every: str | int | None = "1m",
    record: str | Path | TextIO | None = None,
    progress: bool = False,
    source: str | None = None,
) -> Result:
    """Run `strategy` over the quotes of `data` in [start, end) and return a Result.

    strategy: a Strategy (class or instance), any object with some of the hooks, a plain
    callable `fn(ctx, quote)`, or a mapping {account name: strategy} for several accounts.
    data: a tick store path/connection, Parquet file(s)/folder, `*.ws.gz` captures, a
    scenario file, a DataFrame/Arrow table or a list of quotes (see `backtest.data`).
    symbols: default the strategy's own `symbols` if it declares them, else all the
    data's. A symbol without quotes in [start, end) raises `NoQuotesError`.
    accounts: names, or {name: {margin_mode, balance, maintenance_rate, ...}}; each account
    gets its own copy of `strategy` (default: one account, "main").
    balance / margin_mode: defaults for every account (balance: the engine's demo balance).
    instruments: declare instruments (others get `Instrument(symbol)`: tick 0.01, 100x).
    bars: the bar interval for `on_bar` ("1m", "5s", µs); default the strategy's `bars`.
    sample_every: the equity sampling interval of engine time (None: on events only).
    record: write every input fed to the engine as a scenario file (for `workbench
    simulate`); feeds quote by quote.
    progress: a tqdm progress bar. source: only rows of this store `source`.
    """
    wall = time.perf_counter()
    if symbols is None:
        symbols = declared_symbols(strategy)
    src = open_source(data, symbols, start, end, source=source)
    engine = Engine([*src.instruments, *instruments])
    for sym in src.symbols:
        if sym not in engine.symbols:
            engine.add_instrument(Instrument(sym))
    out: TextIO | None = None
    owned = False
    if isinstance(record, str | Path):
        out = open(record, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        owned = True
    elif record is not None:
        out = record
    try:
        recorder = Recorder(out, engine) if out is not None else None
        clock = Clock()
        slots = _slots(
            engine, clock, src.symbols, recorder, strategy, accounts, balance, margin_mode
        )
        interval = _bar_interval(bars, slots)
        run = Run(engine, slots, src, clock, interval, sample_every, recorder)
        run.run(progress)
    finally:
        if owned and out is not None:
            out.close()
    if run.quotes == 0:
        a, b = (to_us(getattr(src, k, None)) for k in ("start", "end"))
        span = "" if a is None and b is None else f" in {span_text(a, b)}"
        raise NoQuotesError(f"no quotes for {', '.join(src.symbols)}{span} in {src.where}")
    result = run.result(time.perf_counter() - wall)
    result.warnings = _no_trades(run, src, interval)  # type: ignore[attr-defined]
    for text in result.warnings:  # type: ignore[attr-defined]
        warnings.warn(text, NoTradesWarning, stacklevel=2)
    return result


def _no_trades(run: Run, src: Source, interval: int | None) -> list[str]:
    """One message per account that opened no position: why it may be."""
    opened = {e.get("account") for e in run.events if e["type"] == "opened"}
    placed: dict[str, int] = {}
    for e in run.events:
        if e["type"] == "order_placed":
            placed[e["account"]] = placed.get(e["account"], 0) + 1
    first_t = next((s[1] for s in run.samples if s[2] == "start"), None)
    out = []
    for slot in run.slots:
        if slot.name in opened:
            continue
        hints = no_trade_hints(
            slot.strategy,
            symbols=src.symbols,
            quotes=run.quotes,
            first_t=first_t,
            last_t=run.engine.now,
            bar_interval=interval,
            placed=placed.get(slot.name, 0),
            rejections=slot.ctx.rejections,
            asked=getattr(slot.ctx, "asked", ()),
        )
        who = f" (account {slot.name})" if len(run.slots) > 1 else ""
        out.append(f"no trades in this backtest{who}: " + "; ".join(hints))
    return out


def _slots(
    engine: Engine,
    clock: Clock,
    symbols: list[str],
    recorder: Recorder | None,
    strategy: Any,
    accounts: Sequence[str] | Mapping[str, Mapping[str, Any]] | None,
    balance: object,
    margin_mode: str,
) -> list[Slot]:
    opts = accounts if isinstance(accounts, Mapping) else {}
    if isinstance(strategy, Mapping):
        pairs = [(name, as_strategy(s)) for name, s in strategy.items()]
    else:
        names = list(accounts) if accounts else ["main"]
        first = as_strategy(strategy)
        pairs = [(n, first if i == 0 else _fresh(strategy, first)) for i, n in enumerate(names)]
    slots = []
    for name, strat in pairs:
        o: dict[str, Any] = {"margin_mode": margin_mode}
        if balance is not None:
            o["balance"] = balance
        o.update(opts.get(name, {}))
        unknown = set(o) - set(ACCOUNT_OPTIONS)
        if unknown:
            raise ValueError(f"unknown account option(s) for {name}: {sorted(unknown)}")
        engine.create_account(name, **o)
        ctx = WatchedContext(engine, name, clock, symbols, recorder)
        slots.append(Slot(name, strat, ctx, o))
    return slots


def _fresh(strategy: Any, first: object) -> object:
    return as_strategy(strategy) if isinstance(strategy, type) else copy.deepcopy(first)


def _bar_interval(bars: str | int | None, slots: list[Slot]) -> int | None:
    wanted = {getattr(s.strategy, "bars", None) for s in slots if hook(s.strategy, "on_bar")}
    wanted.discard(None)
    if bars is None:
        if len(wanted) > 1:
            raise ValueError(f"strategies ask for different bars {wanted}: give bars=")
        bars = next(iter(wanted), None)
    if bars is None:
        if any(hook(s.strategy, "on_bar") for s in slots):
            raise ValueError("a strategy has on_bar: give bars='1m' (or set its `bars`)")
        return None
    return interval_us(bars)
