"""The strategy API: a small class with optional hooks, and the `ctx` it trades through.

A strategy never touches the engine's rules: `ctx.open` / `ctx.close` are the engine's own
commands for the strategy's account, and everything it learns (fills, PnL, margin,
liquidations) comes back as that account's engine events. It sees nothing the engine has
not been fed yet: no quote after the one being handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import Instrument
from ..money import PRICE_DP, as_decimal

if TYPE_CHECKING:
    from ..engine import Engine
    from .recording import Recorder

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


class Clock:
    """The strategy's time: `t` is the time of what is being handled; `cmd_t`, when set,
    is the time commands run at (a bar's end, since a bar is known only once it ends)."""

    __slots__ = ("t", "cmd_t")

    def __init__(self) -> None:
        self.t = 0
        self.cmd_t: int | None = None


class Context:
    """What a strategy may do and see: its own account, through the engine's public API.

    Commands issued while the engine is handling an input (from `on_event`) run right
    after that input, at its time; their outcome arrives as an `opened`, `closed` or
    `rejected` event of the account.
    """

    __slots__ = ("account", "symbols", "state", "_engine", "_clock", "_recorder", "_n")

    def __init__(
        self,
        engine: Engine,
        account: str,
        clock: Clock,
        symbols: list[str],
        recorder: Recorder | None = None,
    ) -> None:
        self.account = account
        self.symbols = symbols
        self.state: dict[str, Any] = {}
        self._engine = engine
        self._clock = clock
        self._recorder = recorder
        self._n = 0

    @property
    def t(self) -> int:
        """Engine time (µs) of what the strategy is handling."""
        return self._clock.t

    def open(
        self,
        symbol: str,
        side: str,
        leverage: object,
        *,
        margin: object = None,
        qty: object = None,
        take_profit: object = None,
        stop_loss: object = None,
        ref: str | None = None,
    ) -> str:
        """Open a position (the engine's `open`); returns its ref (`o1`, `o2`... by default)."""
        if ref is None:
            self._n += 1
            ref = f"o{self._n}"
        ref = str(ref)
        sizes = {"margin": margin, "qty": qty, "take_profit": take_profit, "stop_loss": stop_loss}
        _no_floats(leverage=leverage, **sizes)
        if self._recorder is not None:
            rec: dict[str, Any] = {
                "type": "open",
                "account": self.account,
                "ref": ref,
                "symbol": symbol,
                "side": side,
                "leverage": _text(leverage),
            }
            rec.update({k: _text(v) for k, v in sizes.items() if v is not None})
            self._recorder.issue(rec)
        self._engine.open(
            self.account,
            symbol,
            side,
            leverage,
            margin=margin,
            qty=qty,
            take_profit=take_profit,
            stop_loss=stop_loss,
            ref=ref,
            t=self._clock.cmd_t,
        )
        return ref

    def close(self, ref: str) -> None:
        """Close an open position at the current closing-side price (the engine's `close`)."""
        ref = str(ref)
        if self._recorder is not None:
            self._recorder.issue({"type": "close", "account": self.account, "ref": ref})
        self._engine.close(self.account, ref, t=self._clock.cmd_t)

    def positions(self) -> list[dict[str, Any]]:
        """The account's open positions (engine view, decimal text)."""
        return self._engine.positions(self.account)

    def position(self, ref: str) -> dict[str, Any] | None:
        return self._engine.position(self.account, ref)

    def figures(self) -> dict[str, Any]:
        """balance, equity, used/free margin, margin_level: exact Decimals from the engine."""
        return self._engine.figures(self.account)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument's parameters (tick_size, max_leverage, commission_rate...)."""
        return self._engine.instrument(symbol)

    def last_quote(self, symbol: str) -> dict[str, Any] | None:
        """The engine's last quote of `symbol` (never a later one than being handled)."""
        return self._engine.last_quote(symbol)


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
    """

    bars: str | int | None = None

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


def _no_floats(**values: object) -> None:
    for k, v in values.items():
        if isinstance(v, float):
            raise TypeError(
                f'{k} must be a Decimal, an int or decimal text such as "0.1", '
                f"not the float {v!r}: money and prices are exact"
            )


def _text(v: object) -> object:
    """A command argument as it goes into a scenario record (Decimal -> text)."""
    return str(v) if isinstance(v, Decimal) else v
