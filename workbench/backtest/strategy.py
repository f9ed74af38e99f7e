"""The strategy API: a small class with optional hooks, and what the hooks are handed.

A strategy never touches the engine's rules: its `ctx` (see `context`) issues the engine's
own commands for the strategy's account, and everything it learns (fills, PnL, margin,
liquidations) comes back as that account's engine events. It sees nothing the engine has
not been fed yet: no quote after the one being handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..money import PRICE_DP, as_decimal
from .context import Clock, Context

__all__ = ["Bar", "Clock", "Context", "Strategy", "Tick", "as_strategy", "hook"]

HOOKS = ("on_start", "on_quote", "on_bar", "on_event", "on_finish")


class Tick:
    """The quote a strategy's `on_quote` is handling (prices as exact Decimals on access)."""

    __slots__ = ("symbol", "t", "bid_units", "ask_units")

    def __init__(self, symbol: str, t: int, bid_units: int, ask_units: int) -> None:
        self.symbol = symbol
        self.t = t
        self.bid_units = bid_units
        self.ask_units = ask_units

    @property
    def bid(self) -> Decimal:
        return as_decimal(self.bid_units, PRICE_DP)

    @property
    def ask(self) -> Decimal:
        return as_decimal(self.ask_units, PRICE_DP)

    @property
    def mid(self) -> Decimal:
        return as_decimal(self.bid_units + self.ask_units, PRICE_DP) / 2

    def __repr__(self) -> str:
        return f"Tick({self.symbol!r}, t={self.t}, bid={self.bid}, ask={self.ask})"


@dataclass(frozen=True, slots=True)
class Bar:
    """A finished bar of one symbol over [start, end): OHLC of the mid, last bid/ask."""

    symbol: str
    start: int
    end: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    bid: Decimal
    ask: Decimal
    quotes: int


class Strategy:
    """Base class of strategies: override the hooks you need, all optional.

    - `on_start(ctx)`: once, after the first quote reached the engine.
    - `on_quote(ctx, quote)`: every quote (slow path: one Python call per quote).
    - `on_bar(ctx, bar)`: every finished bar (`bars = "1m"` or `backtest(bars=...)`);
      commands run at the bar's end time.
    - `on_event(ctx, event)`: every engine event of this strategy's account.
    - `on_finish(ctx)`: once, after the last quote.
    A strategy with neither `on_quote` nor `on_bar` is fed in bulk (`Engine.feed_quotes`)
    and reacts to its events: the fast path.
    Optional declarations: `symbols = ("BTC_USDC", "ETH_USDC")`, the symbols it needs in
    one run (a backtest's default; a sweep runs them together); `warmup = 20`, the bars
    (quotes without bars) it needs before it can trade (said when a run makes no trade).
    """

    bars: str | int | None = None
    symbols: tuple[str, ...] | None = None
    warmup: int | None = None

    def on_start(self, ctx: Context) -> None:
        pass

    def on_quote(self, ctx: Context, quote: Tick) -> None:
        pass

    def on_bar(self, ctx: Context, bar: Bar) -> None:
        pass

    def on_event(self, ctx: Context, event: dict[str, Any]) -> None:
        pass

    def on_finish(self, ctx: Context) -> None:
        pass


class QuoteFunction(Strategy):
    """A plain callable `fn(ctx, quote)` as a strategy with only `on_quote`."""

    def __init__(self, fn: Callable[[Context, Tick], None]) -> None:
        self.fn = fn

    def on_quote(self, ctx: Context, quote: Tick) -> None:
        self.fn(ctx, quote)


def hook(strategy: object, name: str) -> Callable[..., Any] | None:
    """The bound hook `name` of a strategy, or None when it is absent or the base no-op."""
    fn = getattr(strategy, name, None)
    if fn is None:
        return None
    if isinstance(strategy, Strategy) and getattr(type(strategy), name, None) is getattr(
        Strategy, name
    ):
        return None
    return fn


def as_strategy(obj: object) -> object:
    """A strategy instance from an instance, a class (instantiated) or an on_quote callable."""
    if isinstance(obj, type):
        return obj()
    if any(hasattr(obj, h) for h in HOOKS):
        return obj
    if callable(obj):
        return QuoteFunction(obj)  # type: ignore[arg-type]
    raise TypeError(f"not a strategy (no hooks, not callable): {obj!r}")
