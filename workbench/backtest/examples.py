"""Example strategies (also used by the benchmarks, the tests and sweeps: they pickle)."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

from .bars import interval_us
from .context import Context
from .strategy import Bar, Strategy


class Bracket(Strategy):
    """Enter `side` with a take-profit / stop-loss `band` away, and re-enter on each close.

    The benchmark's "bracket workload": no per-quote hook, so it runs on the bulk path.
    Trades `symbol`, or the run's first symbol. Size: `qty` (base units) or `margin` (USD).
    """

    def __init__(
        self,
        symbol: str | None = None,
        band: object = "0.003",
        leverage: object = "10",
        *,
        qty: object = None,
        margin: object = "100",
        side: str = "long",
    ) -> None:
        self.symbol = symbol
        self.band = Decimal(str(band))
        self.leverage = leverage
        self.qty = qty
        self.margin = None if qty is not None else margin
        self.side = side

    def on_start(self, ctx: Context) -> None:
        self.enter(ctx)

    def on_event(self, ctx: Context, event: dict[str, Any]) -> None:
        if event["type"] == "closed":
            self.enter(ctx)

    def enter(self, ctx: Context) -> None:
        symbol = self.symbol or ctx.symbols[0]
        q = ctx.last_quote(symbol)
        if q is None:
            return
        tick = ctx.instrument(symbol).tick_size
        price = q["ask"] if self.side == "long" else q["bid"]
        up = (price * (1 + self.band)).quantize(tick)
        down = (price * (1 - self.band)).quantize(tick)
        tp, sl = (up, down) if self.side == "long" else (down, up)
        ctx.open(
            symbol,
            self.side,
            self.leverage,
            qty=self.qty,
            margin=self.margin,
            take_profit=tp,
            stop_loss=sl,
        )


class SmaCross(Strategy):
    """Long while the fast moving average of bar closes is above the slow one, else short.

    Holds at most one position per symbol; flips on each crossing, at the bar's end.
    """

    bars = "1m"

    def __init__(
        self, fast: int = 5, slow: int = 20, leverage: object = "10", margin: object = "100"
    ) -> None:
        if not 0 < fast < slow:
            raise ValueError("need 0 < fast < slow")
        self.fast, self.slow = fast, slow
        self.leverage, self.margin = leverage, margin
        self.closes: dict[str, deque[Decimal]] = {}
        self.held: dict[str, tuple[str, str]] = {}  # symbol -> (ref, side)

    def on_bar(self, ctx: Context, bar: Bar) -> None:
        closes = self.closes.setdefault(bar.symbol, deque(maxlen=self.slow))
        closes.append(bar.close)
        if len(closes) < self.slow:
            return
        fast = sum(list(closes)[-self.fast :], Decimal(0)) / self.fast
        slow = sum(closes, Decimal(0)) / self.slow
        side = "long" if fast > slow else "short"
        ref, held = self.held.get(bar.symbol, (None, None))
        if ref is not None and ctx.position(ref) is None:  # closed by a trigger meanwhile
            ref = held = None
        if held == side:
            return
        if ref is not None:
            ctx.close(ref)
        self.held[bar.symbol] = (
            ctx.open(bar.symbol, side, self.leverage, margin=self.margin),
            side,
        )


class LimitPullback(Strategy):
    """Buy a dip with a limit order, ride it with a trailing stop.

    A long limit order `pullback` below the ask (a short one above the bid with
    `side="short"`); its position gets a trailing stop `trail` away (both fractions of
    the order price, on the tick grid) and is sized so that the trailing stop's first
    level loses `risk` USD, fees included (`ctx.qty_for_risk`). An order waits `wait`,
    then expires; after an exit a new order is placed at once, and at each bar's end with
    nothing open or waiting (an expiry, a rejection) one is placed at the latest price.
    Trades `symbol`, or the run's first symbol.
    """

    bars = "1m"

    def __init__(
        self,
        symbol: str | None = None,
        pullback: object = "0.0005",
        trail: object = "0.001",
        leverage: object = "20",
        *,
        risk: object = "5",
        wait: str | int = "1m",
        side: str = "long",
    ) -> None:
        self.symbol = symbol
        self.pullback = Decimal(str(pullback))
        self.trail = Decimal(str(trail))
        self.leverage = leverage
        self.risk = risk
        self.wait = interval_us(wait)
        self.side = side

    def on_bar(self, ctx: Context, bar: Bar) -> None:
        mine = bar.symbol == (self.symbol or ctx.symbols[0])
        if mine and not ctx.pending and not ctx.positions():
            self.place(ctx)

    def on_event(self, ctx: Context, event: dict[str, Any]) -> None:
        if event["type"] == "closed":
            self.place(ctx)

    def place(self, ctx: Context) -> None:
        symbol = self.symbol or ctx.symbols[0]
        q = ctx.last_quote(symbol)
        if q is None:
            return
        if self.side == "long":
            price = ctx.round_price(symbol, q["ask"] * (1 - self.pullback), "down")
        else:
            price = ctx.round_price(symbol, q["bid"] * (1 + self.pullback), "up")
        tick = ctx.instrument(symbol).tick_size
        trail = max(ctx.round_price(symbol, price * self.trail), tick)
        stop = price - trail if self.side == "long" else price + trail
        qty = ctx.qty_for_risk(symbol, self.risk, price, stop)
        if qty > 0:
            ctx.order(symbol, self.side, "limit", price, self.leverage, qty=qty,
                      trailing_stop=trail, expires=ctx.t + self.wait)  # fmt: skip
