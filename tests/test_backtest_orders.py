"""Pending orders, modify, partial closes and trailing stops in backtests.

A strategy's ctx issues the engine's own commands; what they did comes back as tickets,
events, result frames and stats, and every run replays in `workbench simulate` byte for
byte (`same_as_simulate` runs it fast, recorded, and through simulate).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from test_backtest_simulate import (  # noqa: F401 (store_path: a fixture)
    SWAP_INSTRUMENT,
    SwapHopper,
    same_as_simulate,
    store_path,
    swap_quotes,
)

from workbench.backtest import Strategy
from workbench.backtest.examples import LimitPullback
from workbench.backtest.tickets import Ticket
from workbench.domain import Instrument
from workbench.feeds.synthetic import SyntheticFeed

T0 = 1_723_161_600_000_000
S = 1_000_000
D = Decimal
X = Instrument("X", tick_size=D("0.1"))
FEE_X = Instrument("X", tick_size=D("0.1"), commission_rate=D("0.001"))


def quotes(*rows: tuple[int, str, str]) -> list[tuple[str, int, str, str]]:
    return [("X", T0 + s * S, bid, ask) for s, bid, ask in rows]


class AtTheMarket(Strategy):
    """On the second quote (bid 100.0 / ask 100.1) places orders the quote itself
    satisfies (a long limit at the ask, a long stop at the ask, a short limit at the bid)
    and the nearest ones it does not."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.n = 0

    def on_quote(self, ctx: Any, quote: Any) -> None:
        self.n += 1
        if self.n != 2:
            return
        for ref, side, kind, price in (
            ("limit_at_ask", "long", "limit", quote.ask),
            ("L", "long", "limit", quote.ask - D("0.1")),
            ("stop_at_ask", "long", "stop", quote.ask),
            ("S", "long", "stop", quote.ask + D("0.1")),
            ("limit_at_bid", "short", "limit", quote.bid),
            ("SL", "short", "limit", quote.bid + D("0.1")),
        ):
            self.tickets[ref] = ctx.order("X", side, kind, price, "10", qty="1", ref=ref)


def test_an_order_placed_on_a_quote_first_fills_on_a_later_quote(tmp_path: Path) -> None:
    """No look-ahead: an order is checked against the quote being handled (a limit must
    be strictly better than it, a stop strictly worse), so an order that quote would
    fill is refused, and one it would not fill waits for the next quotes that reach it,
    filling at their time and price."""
    data = quotes(
        (0, "100.0", "100.1"),
        (1, "100.0", "100.1"),  # the orders are placed here
        (2, "100.0", "100.1"),  # the same prices again: nothing fills
        (3, "99.9", "100.0"),  # ask 100.0 reaches the long limit at 100.0
        (4, "100.2", "100.3"),  # ask 100.3 passes the stop at 100.2; bid 100.2 the short limit
    )
    strategies: list[AtTheMarket] = []

    def make() -> AtTheMarket:
        strategies.append(AtTheMarket())
        return strategies[-1]

    res = same_as_simulate(tmp_path, make, data, instruments=[X])
    tickets = strategies[-1].tickets
    for ref, where in (("limit_at_ask", "below the ask 100.1"),
                       ("stop_at_ask", "above the ask 100.1"),
                       ("limit_at_bid", "above the bid 100.0")):  # fmt: skip
        t = tickets[ref]
        assert t.rejected and t.reason == "invalid_order" and where in t.message, t
        assert t == ref and t.event is not None and t.event["t"] == T0 + S
    assert all(
        tickets[r].ok and tickets[r].event["type"] == "order_placed" for r in ["L", "S", "SL"]
    )
    opened = [(e["ref"], e["t"], e["price"], e["order"]) for e in res.raw_events
              if e["type"] == "opened"]  # fmt: skip
    assert opened == [
        ("L", T0 + 3 * S, "100.0", "limit"),
        ("S", T0 + 4 * S, "100.3", "stop"),
        ("SL", T0 + 4 * S, "100.2", "limit"),
    ]
    assert res.rejections["command"].to_list() == ["order"] * 3
    assert res.orders["status"].to_list() == ["filled"] * 3
    assert res.fills["order"].to_list() == ["limit", "stop", "limit"]


class OnEventOrders(Strategy):
    """Bulk path: each fill places the next order from `on_event` (a deferred command, run
    right after the quote that filled the last one); the ticket is answered then."""

    def __init__(self) -> None:
        self.deferred: list[Ticket] = []

    def on_start(self, ctx: Any) -> None:
        t = ctx.order("X", "long", "limit", "100.0", "10", qty="1")
        assert t.ok and t.event["type"] == "order_placed"  # ran at once: answered on return

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "opened" and len(self.deferred) < 4:
            ask = ctx.last_quote("X")["ask"]
            at_ask = ctx.order("X", "long", "limit", ask, "10", qty="1")
            below = ctx.order("X", "long", "limit", ask - D("0.1"), "10", qty="1")
            assert at_ask.event is None and below.event is None  # deferred: not run yet
            self.deferred += [at_ask, below]


def test_orders_from_on_event_run_after_the_quote_and_fill_on_a_later_one(
    tmp_path: Path,
) -> None:
    data = quotes((0, "100.0", "100.1"), (1, "99.9", "100.0"), (2, "99.8", "99.9"),
                  (3, "99.9", "100.0"), (4, "99.7", "99.8"))  # fmt: skip
    made: list[OnEventOrders] = []

    def make() -> OnEventOrders:
        made.append(OnEventOrders())
        return made[-1]

    res = same_as_simulate(tmp_path, make, data, instruments=[X])
    at_ask, below, at_ask2, below2 = made[-1].deferred
    assert at_ask.rejected and below.ok and at_ask2.rejected and below2.ok
    assert at_ask.event["t"] == T0 + S and below2.event["t"] == T0 + 2 * S
    opened = [(e["ref"], e["t"], e["price"]) for e in res.raw_events if e["type"] == "opened"]
    assert opened == [("o1", T0 + S, "100.0"), ("o3", T0 + 2 * S, "99.9"),
                      ("o5", T0 + 4 * S, "99.8")]  # fmt: skip


class ScaleOut(Strategy):
    """Long 2 X with a trailing stop; closes a quarter, then half of the rest, then
    moves the stop and removes the trailing stop; the last part closes on the stop."""

    def __init__(self) -> None:
        self.n = 0

    def on_quote(self, ctx: Any, quote: Any) -> None:
        self.n += 1
        if self.n == 1:
            ctx.open("X", "long", "10", qty="2", trailing_stop="3", ref="p")
        elif self.n in (2, 3):
            qty = D(ctx.position("p")["qty"]) / (4 if self.n == 2 else 2)
            ctx.close("p", qty=ctx.round_qty(qty))
        elif self.n == 4:
            ctx.modify("p", stop_loss="104.5", trailing_stop=None)


def test_a_position_reduced_then_closed_is_one_trade_with_summed_pnl_and_fees(
    tmp_path: Path,
) -> None:
    data = quotes(
        (0, "100.0", "100.1"),  # open 2 at 100.1, fee 0.2002
        (1, "104.0", "104.1"),  # close 0.5 at 104.0: pnl 1.95, fee 0.052
        (2, "106.0", "106.1"),  # close 0.75 at 106.0: pnl 4.425, fee 0.0795
        (3, "105.5", "105.6"),  # stop 104.5, no trailing stop (it would be at 103.0)
        (4, "104.4", "104.5"),  # the stop: 0.75 at 104.4, pnl 3.225, fee 0.0783
    )
    res = same_as_simulate(tmp_path, ScaleOut, data, instruments=[FEE_X])
    assert [e["type"] for e in res.raw_events] == [
        "opened", "reduced", "reduced", "modified", "closed",
    ]  # fmt: skip
    trade = res.closed.row(0, named=True)
    assert res.closed.height == 1
    assert (trade["qty"], trade["reductions"], trade["reason"]) == (D(2), 2, "stop_loss")
    assert (trade["close_price"], trade["order"]) == (D("104.4"), "market")
    assert trade["pnl"] == D("1.95") + D("4.425") + D("3.225")
    assert trade["close_fee"] == D("0.052") + D("0.0795") + D("0.0783")
    assert trade["open_fee"] == D("0.2002")
    assert trade["net"] == D("9.6") - D("0.2098") - D("0.2002")
    red = res.reductions
    assert red["qty"].to_list() == [D("0.5"), D("0.75")]
    assert red["remaining_qty"].to_list() == [D("1.5"), D("0.75")]
    assert red["pnl"].to_list() == [D("1.95"), D("4.425")]
    assert res.events["remaining_qty"].to_list() == [None, D("1.5"), D("0.75"), None, None]
    assert res.events["trailing_stop"].to_list() == [D(3), None, None, None, None]
    assert res.fills["action"].to_list() == ["open", "reduce", "reduce", "close"]
    assert res.fills["qty"].to_list() == [D(2), D("0.5"), D("0.75"), D("0.75")]
    st = res.stats.row(0, named=True)
    assert (st["trades"], st["wins"], st["reductions"], st["stop_losses"]) == (1, 1, 2, 1)
    assert st["pnl"] == trade["pnl"] and st["fees"] == trade["open_fee"] + trade["close_fee"]
    assert st["end_balance"] == D(5000) + trade["net"]
    assert res.plot() is not None


class Juggler(Strategy):
    """Every command and every change, on a rotation of quotes and from `on_event`."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.n = 0

    def on_quote(self, ctx: Any, quote: Any) -> None:
        if quote.symbol != self.symbol:
            return
        self.n += 1
        n, sym, tick = self.n, self.symbol, ctx.instrument(self.symbol).tick_size
        bid, ask = quote.bid, quote.ask
        if n % 40 == 0:
            price = ctx.round_price(sym, ask * D("0.9997"), "down")
            stop = price - 40 * tick
            qty = ctx.qty_for_risk(sym, "0.5", price, stop)
            ctx.order(sym, "long", "limit", price, "20", qty=qty, stop_loss=stop,
                      trailing_stop=60 * tick, expires=quote.t + 20 * S)  # fmt: skip
        if n % 70 == 0:
            ctx.order(sym, "short", "stop", ctx.round_price(sym, bid * D("0.9997"), "down"),
                      "10", margin="50", take_profit=ctx.round_price(sym, bid * D("0.99"))
                      )  # fmt: skip
        if n % 90 == 0 and ctx.pending:
            ref, o = next(iter(ctx.pending.items()))
            closer = D(o["price"]) + (tick if o["side"] == "long" else -tick)
            ctx.modify(ref, price=closer, expires=quote.t + 30 * S)
        if n % 110 == 0 and ctx.orders():
            ctx.cancel(ctx.orders()[-1]["ref"])
        if n % 30 == 0 and ctx.positions():  # a third of the oldest, or all of a small one
            p = ctx.positions()[0]
            third = ctx.round_qty(D(p["qty"]) / 3)
            ctx.close(p["ref"], qty=third if D(p["qty"]) > D("0.001") else None)
        if n % 130 == 0 and ctx.positions():
            ctx.modify(ctx.positions()[-1]["ref"], take_profit=None, trailing_stop=30 * tick)
        if n % 170 == 0:
            ctx.open(sym, "long", "10", margin="40", trailing_stop=50 * tick)
        if n % 400 == 0:  # refused, each for its reason, and nothing changes
            ctx.cancel("nope")
            ctx.modify("nope", stop_loss="1")
            for p in ctx.positions()[:1]:
                ctx.close(p["ref"], qty="999")
            ctx.order(sym, "long", "limit", ask - D("0.000000001"), "10", qty="0.01")

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "reduced":
            ctx.modify(ev["ref"], stop_loss=None)
        elif ev["type"] == "order_cancelled" and ev["reason"] == "expired":
            above = ctx.last_quote(self.symbol)["ask"] + 20 * ctx.instrument(self.symbol).tick_size
            ctx.order(self.symbol, "long", "stop", above, "10", margin="30",
                      expires=ctx.t + 10 * S)  # fmt: skip


def test_every_order_command_replays_in_simulate_byte_for_byte(tmp_path: Path) -> None:
    feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=13, mean_interval_ms=300)
    data = feed.generate(3_000).to_arrow()
    btc, eth = feed.symbols
    accounts = {"iso": {"balance": "3000"}, "cross": {"margin_mode": "cross", "balance": "2000"}}
    insts = [Instrument(btc, D("0.1"), D(500), D("0.0004")), Instrument(eth, D("0.01"), D(500))]
    res = same_as_simulate(
        tmp_path,
        lambda: {"iso": Juggler(btc), "cross": Juggler(eth)},
        data,
        accounts=accounts,
        instruments=insts,
    )
    ev = res.raw_events
    kinds = Counter(e["type"] for e in ev)
    for kind in ("order_placed", "order_cancelled", "modified", "reduced", "rejected"):
        assert kinds[kind] >= 3, (kind, kinds)
    assert Counter(e["order"] for e in ev if e["type"] == "opened" and "order" in e).keys() == {
        "limit", "stop",
    }  # fmt: skip
    cancelled = Counter(e["reason"] for e in ev if e["type"] == "order_cancelled")
    assert cancelled["cancelled"] and cancelled["expired"]
    assert any(e["type"] == "closed" and e["reason"] == "trailing_stop" for e in ev)
    # the frames and stats count what the events say
    assert res.reductions.height == kinds["reduced"]
    assert res.orders.height == kinds["order_placed"]
    assert res.rejections.height == kinds["rejected"]
    assert set(res.rejections["command"]) >= {"cancel", "modify", "close", "order"}
    by_status = Counter(res.orders["status"])
    assert by_status["filled"] == sum(1 for e in ev if e["type"] == "opened" and "order" in e)
    assert by_status["cancelled"] == kinds["order_cancelled"]
    for st in res.stats.iter_rows(named=True):
        mine = [e for e in ev if e.get("account") == st["account"]]
        realized = sum((D(e["pnl"]) for e in mine if e["type"] in ("closed", "reduced")), D(0))
        assert st["pnl"] == realized
        assert st["trades"] == sum(1 for e in mine if e["type"] == "closed")
        assert st["reductions"] == sum(1 for e in mine if e["type"] == "reduced")
        assert st["orders_placed"] == sum(1 for e in mine if e["type"] == "order_placed")
        assert st["rejected"] == sum(1 for e in mine if e["type"] == "rejected")
        assert st["trailing_stops"] == sum(
            1 for e in mine if e["type"] == "closed" and e["reason"] == "trailing_stop"
        )
    closed = res.closed.filter(pl.col("reductions") > 0)
    assert closed.height > 0
    for row in closed.iter_rows(named=True):
        parts = [e for e in ev if e.get("ref") == row["ref"] and e.get("account") == row["account"]
                 and e["type"] in ("reduced", "closed")]  # fmt: skip
        assert row["pnl"] == sum((D(e["pnl"]) for e in parts), D(0))
        assert row["close_fee"] == sum((D(e["fee"]) for e in parts), D(0))


class RolloverOrders(SwapHopper):
    """SwapHopper (close and flip on each swap charge), plus pending orders whose expiry
    falls between quotes and across 22:00 rollovers, placed again from `on_event`."""

    def on_start(self, ctx: Any) -> None:
        super().on_start(ctx)
        self.place(ctx, ctx.t + 90 * 60 * S)

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        super().on_event(ctx, ev)
        if ev["type"] == "swap" or (ev["type"] == "order_cancelled" and len(ctx.pending) < 2):
            self.place(ctx, ctx.t + (50 + ev["seq"] % 40) * 60 * S)

    def place(self, ctx: Any, expires: int) -> None:
        ask = ctx.last_quote("SWP")["ask"]
        ctx.order("SWP", "long", "limit", ctx.round_price("SWP", ask * D("0.999"), "down"),
                  "5", margin="200", trailing_stop="40", expires=expires)  # fmt: skip
        ctx.order("SWP", "short", "stop", ctx.round_price("SWP", ask * D("0.998"), "down"),
                  "5", qty="0.01", expires=expires)  # fmt: skip


def test_orders_expiring_across_rollovers_replay_in_simulate(tmp_path: Path) -> None:
    """An expiry is applied before the input at or after it, a rollover's swaps before the
    expiry; commands from either run where the recording puts them."""
    res = same_as_simulate(
        tmp_path,
        RolloverOrders,
        swap_quotes(),
        instruments=[SWAP_INSTRUMENT],
        accounts={"a": {}, "b": {"margin_mode": "cross"}},
    )
    ev = res.raw_events
    expired = [e for e in ev if e["type"] == "order_cancelled" and e["reason"] == "expired"]
    assert len(expired) > 10
    assert any(e["type"] == "opened" and e.get("order") for e in ev)
    swaps = {e["t"] for e in ev if e["type"] == "swap"}
    assert any(e["t"] in swaps for e in expired) or any(e["t"] in swaps for e in ev
                                                        if e["type"] == "order_placed")  # fmt: skip


def test_limit_pullback_on_the_captures_fills_limits_and_exits_on_trailing_stops(
    tmp_path: Path,
    store_path: tuple[Path, list[str]],  # noqa: F811
) -> None:
    path, symbols = store_path
    btc, eth = symbols

    def make() -> dict[str, Any]:
        return {
            "long": LimitPullback(btc, "0.0002", "0.0004"),
            "short": LimitPullback(eth, "0.0002", "0.0005", side="short", risk="3", wait="30s"),
        }

    res = same_as_simulate(tmp_path, make, path, cli=True, symbols=symbols,
                           accounts={"long": {}, "short": {"margin_mode": "cross"}})  # fmt: skip
    for st in res.stats.iter_rows(named=True):
        assert st["orders_filled"] >= 3, st
        assert st["trailing_stops"] >= 3, st
        assert st["trades"] == st["trailing_stops"] and st["rejected"] == 0
    assert set(res.fills.filter(pl.col("action") == "open")["order"]) == {"limit"}
    assert set(res.orders["status"]) >= {"filled", "cancelled"}
    assert set(res.orders.filter(pl.col("status") == "cancelled")["reason"]) == {"expired"}
    # each order was sized by risk: the trailing stop's first level loses at most `risk`
    for o in res.orders.iter_rows(named=True):
        side = 1 if o["side"] == "long" else -1
        risk = D(5) if side > 0 else D(3)
        assert o["qty"] * o["trailing_stop"] <= risk < (o["qty"] + D("1e-8")) * o["trailing_stop"]
