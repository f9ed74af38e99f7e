"""A strategy cannot see the future: only quotes up to the one it is handling.

Two checks, for every kind of hook (per quote, per bar, and events on the bulk path):
- whatever a hook can see (last quotes of every symbol, figures) is never later than the
  time it handles;
- changing every quote from time T on leaves every event before T unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from workbench.backtest import Strategy, backtest
from workbench.backtest.examples import Bracket, LimitPullback, SmaCross
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.columns import decimal_array, units_of

SYMBOLS = ["SIM_BTC_USDC", "SIM_ETH_USDC"]


def data() -> pa.Table:
    return (
        SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=21, mean_interval_ms=200)
        .generate(6_000)
        .to_arrow()
    )


def future_changed(table: pa.Table, cut: int) -> pa.Table:
    """The same quotes before `cut`; from `cut` on, the prices moved by up to +-3 USD."""
    t = table.column("t").to_numpy()
    bid = units_of(table.column("bid")).copy()
    ask = units_of(table.column("ask")).copy()
    later = t >= cut
    shift = np.random.default_rng(99).integers(-300, 300, int(later.sum())) * 1_000_000
    bid[later] += shift
    ask[later] += shift
    return pa.table(
        {
            "symbol": table.column("symbol"),
            "t": table.column("t"),
            "bid": decimal_array(bid),
            "ask": decimal_array(ask),
        }
    )


class Spy(Strategy):
    """Records, in every hook, the latest quote time it can see and the time it handles."""

    bars = "10s"

    def __init__(self, hooks: set[str]) -> None:
        self.hooks = hooks
        self.checks: list[tuple[str, int, int]] = []
        self.n = 0

    def look(self, ctx: Any, hook: str, handled: int) -> None:
        seen = max((q["t"] for s in SYMBOLS if (q := ctx.last_quote(s))), default=-1)
        ctx.figures()
        self.checks.append((hook, seen, handled))
        assert ctx.t == handled

    def trade(self, ctx: Any, symbol: str) -> None:
        """A bracket whose side and levels depend on the prices seen."""
        self.n += 1
        q = ctx.last_quote(symbol)
        up = (q["bid"] * 100).to_integral_value() % 2 == 0
        p = q["bid"] if up else q["ask"]
        hi, lo = (
            (p * Decimal("1.0005")).quantize(Decimal("0.1")),
            (p * Decimal("0.9995")).quantize(Decimal("0.1")),
        )
        tp, sl = (hi, lo) if up else (lo, hi)
        ctx.open(symbol, "long" if up else "short", "50", margin="20", take_profit=tp, stop_loss=sl)

    def on_start(self, ctx: Any) -> None:
        self.trade(ctx, SYMBOLS[0])

    def on_quote(self, ctx: Any, quote: Any) -> None:
        self.look(ctx, "quote", quote.t)
        assert ctx.last_quote(quote.symbol)["t"] == quote.t
        if quote.t % 7 == 0 and len(ctx.positions()) < 3:
            self.trade(ctx, quote.symbol)

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.look(ctx, "bar", bar.end)
        assert ctx.last_quote(bar.symbol)["t"] < bar.end
        if len(ctx.positions()) < 3:
            self.trade(ctx, bar.symbol)

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        self.look(ctx, "event", ev["t"])
        if ev["type"] == "closed":
            self.trade(ctx, ev.get("symbol") or SYMBOLS[1])


def only(hooks: set[str]) -> Spy:
    """A Spy with only the given hooks (the others removed, so the fast path is taken)."""
    cls = type(
        "Spy_" + "_".join(sorted(hooks)),
        (Spy,),
        {h: getattr(Strategy, h) for h in ("on_quote", "on_bar") if h[3:] not in hooks},
    )
    return cls(hooks)


@pytest.mark.parametrize("hooks", [{"quote", "event"}, {"bar", "event"}, {"event"}])
def test_hooks_never_see_a_later_quote(hooks: set[str]) -> None:
    spy = only(hooks)
    res = backtest(spy, data(), symbols=SYMBOLS)
    kinds = {k for k, _, _ in spy.checks}
    assert kinds == hooks
    assert len(res.raw_events) > 20
    for hook, seen, handled in spy.checks:
        assert seen <= handled, (hook, seen, handled)


@pytest.mark.parametrize(
    "make",
    [
        lambda: only({"quote", "event"}),
        lambda: only({"bar", "event"}),
        lambda: Bracket(SYMBOLS[0], "0.0004", "50"),
        lambda: SmaCross(2, 5, "20"),
        lambda: LimitPullback(SYMBOLS[0], "0.0001", "0.0002", wait="20s"),
    ],
    ids=["on_quote", "on_bar", "bracket_on_event", "sma_on_bar", "limit_orders_trailing_stops"],
)
def test_changing_the_future_changes_nothing_before_it(make: Any) -> None:
    base = data()
    t = base.column("t").to_numpy()
    cut = int(t[len(t) // 2])
    other = future_changed(base, cut)
    a = backtest(make(), base, symbols=SYMBOLS, bars="10s")
    b = backtest(make(), other, symbols=SYMBOLS, bars="10s")
    before = [e for e in a.raw_events if e["t"] < cut]
    assert len(before) > 10
    if isinstance(make(), LimitPullback):  # pending orders filled and trailing stops hit
        assert {e.get("order") for e in before} >= {"limit"}
        assert {e.get("reason") for e in before} >= {"trailing_stop"}
    assert [e for e in b.raw_events if e["t"] < cut] == before
    assert a.raw_events != b.raw_events  # the future did change what happened after it
