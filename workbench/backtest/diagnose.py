"""Loud failures and hints: what is missing from the data, and why a run made no trades.

A backtest never answers "0 quotes, return 0.0" in silence: a symbol the data lacks, or a
range without quotes, raises `NoQuotesError` naming what the data has (and the likeliest
name meant: `BTC_USDC` -> `SIM_BTC_USDC`, `BTC_USDT` -> `BTCUSDT`), and a run that ends
without a trade warns (`NoTradesWarning`) with the reasons this module can see: fewer
bars than the strategy's warm-up, a symbol it trades that has no quotes, its commands
rejected, or no command at all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .context import Context

#: Parameter names whose int value says how many bars (or quotes) a strategy needs first.
WARMUP_NAMES = ("warmup", "slow", "window", "period", "lookback", "length", "span")
KNOWN_SHOWN = 20


class NoQuotesError(ValueError):
    """The data has no quotes for what a backtest or a sweep asked for."""


class NoTradesWarning(UserWarning):
    """A backtest ended without a single position opened; the message says what it saw."""


def when(t: int | None) -> str:
    """µs as UTC text, 'the start' / 'the end' for an open bound."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span_text(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return "all of its time"
    a = "the start" if start is None else when(start)
    b = "the end" if end is None else when(end)
    return f"[{a}, {b})"


def _core(name: str) -> str:
    """A name without SIM_ and separators, upper case: 'sim_btc-usdc' -> 'BTCUSDC'."""
    return re.sub(r"[^A-Z0-9]", "", name.upper().removeprefix("SIM_"))


def suggest(name: str, known: Sequence[str], n: int = 3, close: bool = True) -> list[str]:
    """The known names `name` most likely meant: the same name with a prefix or other
    separators (BTC_USDC -> SIM_BTC_USDC, BTC_USDT -> BTCUSDT), else (`close`) close
    spellings."""
    out = [
        k
        for k in known
        if k != name
        and (k.endswith("_" + name) or name.endswith("_" + k) or _core(k) == _core(name))
    ]
    if out or not close:
        return out[:n]
    cores = {_core(k): k for k in known}
    for c in difflib.get_close_matches(_core(name), list(cores), n=n, cutoff=0.75):
        out.append(cores[c])
    out.extend(difflib.get_close_matches(name, known, n=n, cutoff=0.6))
    return list(dict.fromkeys(out))[:n]


def no_quotes_message(
    missing: Sequence[str],
    where: str,
    known: Sequence[str],
    start: int | None = None,
    end: int | None = None,
    spans: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    """'no quotes for X in <where>; known: ...; did you mean ...?' (or the span it has)."""
    ranged = start is not None or end is not None
    period = f" in {span_text(start, end)}" if ranged else ""
    if not missing:
        text = f"no quotes{period} in {where}"
    else:
        text = f"no quotes for {', '.join(missing)}{period} in {where}"
    if not known:
        return text + "; it holds no quotes at all"
    spans = spans or {}
    inside = [s for s in missing if s in spans]
    for s in inside:
        a, b = spans[s]
        text += f"; {s} has quotes from {when(a)} to {when(b)}"
    if not missing and spans:
        lo = min(a for a, _ in spans.values())
        hi = max(b for _, b in spans.values())
        text += f"; its quotes run from {when(lo)} to {when(hi)}"
    absent = [s for s in missing if s not in known]
    if absent:
        shown = ", ".join(known[:KNOWN_SHOWN])
        more = f" ({len(known)} in all)" if len(known) > KNOWN_SHOWN else ""
        text += f"; known: {shown}{more}"
        guesses = [g for s in absent for g in suggest(s, known)]
        if guesses:
            text += f"; did you mean {' or '.join(dict.fromkeys(guesses))}?"
    return text


class WatchedContext(Context):
    """A Context that notes the symbols a strategy asked a quote of that its run lacks
    (a pair strategy swept one symbol a run finds no quote of the other)."""

    __slots__ = ("asked",)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.asked: dict[str, None] = {}

    def last_quote(self, symbol: str) -> dict[str, Any] | None:
        try:
            q = super().last_quote(symbol)
        except ValueError as e:  # the engine does not know the symbol at all
            if symbol not in self.symbols:
                e.add_note(self.advice([symbol]))
            raise
        if q is None and symbol not in self.symbols:
            self.asked[symbol] = None
        return q

    def advice(self, others: Sequence[str]) -> str:
        """What to do about symbols a strategy uses that this run lacks."""
        want = tuple(dict.fromkeys([*self.symbols, *others]))
        return (
            f"this run has {', '.join(self.symbols)}: a strategy that needs several symbols "
            f"in one run declares them, e.g. symbols = {want!r}"
        )


def declared_symbols(strategy: Any) -> tuple[str, ...] | None:
    """The symbols a strategy declares it needs (`symbols = ("BTC_USDC", "ETH_USDC")` on
    its class or instance; a mapping {account: strategy}: all of theirs, in order)."""
    if isinstance(strategy, Mapping):
        found = [s for v in strategy.values() for s in declared_symbols(v) or ()]
        return tuple(dict.fromkeys(found)) or None
    value = getattr(strategy, "symbols", None)
    if value is None or callable(value) or isinstance(value, property):
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        names = tuple(value)
        if names and all(isinstance(s, str) for s in names):
            return names
    raise TypeError(
        f"a strategy's `symbols` must be symbol names such as ('BTC_USDC',), not {value!r}"
    )


def warmup_of(strategy: object) -> tuple[int, str] | None:
    """How many bars (quotes without bars) a strategy needs before it can trade, and what
    says so: its `warmup`, else the largest int parameter named like slow, window, period,
    lookback, length, span."""
    declared = getattr(strategy, "warmup", None)
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared, "its `warmup`"
    found: list[tuple[int, str]] = []
    for name, value in getattr(strategy, "__dict__", {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 1:
            continue
        words = name.lower().strip("_").split("_")
        if any(w in WARMUP_NAMES for w in words):
            found.append((value, f"its `{name}` = {value}"))
    return max(found) if found else None


def _interval(us: int) -> str:
    for unit, size in (("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us} µs"


def _traded_symbols(strategy: object) -> list[str]:
    """The symbols a strategy names in its `symbol` / `symbols` attributes."""
    out: list[str] = []
    for attr in ("symbol", "symbols"):
        value = getattr(strategy, attr, None)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list | tuple):
            out.extend(v for v in value if isinstance(v, str))
    return out


def no_trade_hints(
    strategy: object,
    *,
    symbols: Sequence[str],
    quotes: int,
    first_t: int | None,
    last_t: int | None,
    bar_interval: int | None,
    placed: int,
    rejections: Sequence[Mapping[str, Any]],
    asked: Iterable[str] = (),
) -> list[str]:
    """Why a run of `strategy` may have made no trades (empty when nothing explains it)."""
    hints: list[str] = []
    fn = getattr(strategy, "fn", None)  # a plain function run as a strategy
    name = getattr(fn, "__name__", None) or type(strategy).__name__
    span = f"{quotes:,} quotes from {when(first_t)} to {when(last_t)}"
    need = warmup_of(strategy)
    if need is not None:
        n, why = need
        if bar_interval and first_t is not None and last_t is not None:
            bars = max(last_t // bar_interval - first_t // bar_interval, 0)
            if bars < n:
                hints.append(
                    f"{name} needs {n} bars to warm up ({why}) but the run had about {bars} "
                    f"bars of {_interval(bar_interval)} ({span}): give it more data"
                )
        elif not bar_interval and quotes < n:
            hints.append(f"{name} needs {n} quotes to warm up ({why}) but the run had {span}")
    has = ", ".join(symbols)
    lacking = [x for x in dict.fromkeys([*asked, *_traded_symbols(strategy)]) if x not in symbols]
    others = []
    for sym in lacking:
        strong = suggest(sym, list(symbols), close=False)
        if strong:
            hints.append(
                f"{name} uses {sym}, which has no quotes in this run (it has {has}); "
                f"did you mean {' or '.join(strong)}?"
            )
        else:
            others.append(sym)
    if others:
        want = tuple(dict.fromkeys([*symbols, *others]))
        hints.append(
            f"{name} uses {', '.join(others)}, which this run does not have (it has {has}): "
            f"a strategy that needs several symbols in one run declares them, e.g. "
            f"symbols = {want!r}"
        )
    if rejections:
        r = rejections[0]
        every = "every command was" if not placed else f"{len(rejections)} commands were"
        hints.append(
            f"{every} rejected ({len(rejections)} in all); the first: {r.get('command')} "
            f"{r.get('ref')} at {when(r.get('t'))}: {r.get('reason')}: {r.get('message')}"
        )
    if placed:
        hints.append(f"{placed} pending orders were placed and none filled")
    elif not rejections and not hints:
        hints.append(f"{name} issued no command over {span} of {', '.join(symbols)}")
    return hints
