"""Pending limit/stop orders (trading-rules.md "Pending orders"): placement and fills.

Quote of X in most tests: bid 100, ask 101 (tick 0.01). Figures hand-computed.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import SEC, T0, D, last, make_engine

from workbench.engine import Engine
from workbench.engine.snapshot import state_dict


def setup(balance: str | None = None, mode: str = "isolated", **inst: Any) -> tuple[Engine, list]:
    eng, events = make_engine(**inst)
    eng.create_account("a", balance=balance, margin_mode=mode)
    eng.quote("X", T0, "100", "101")
    return eng, events


def place(eng: Engine, side: str, kind: str, price: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"leverage": "10", "t": T0}
    if "qty" not in kw:
        args["margin"] = "100"
    args.update(kw)
    return eng.order("a", "X", side, kind, price, args.pop("leverage"), **args)


def figures(eng: Engine) -> tuple:
    f = eng.figures("a")
    return f["balance"], f["equity"], f["used_margin"], f["free_margin"], f["margin_level"]


# ------------------------------------------------------------------ placement
@pytest.mark.parametrize(
    ("side", "kind", "good", "bad", "message"),
    [
        ("long", "limit", ["100.99", "90"], ["101", "102"], "must be below the ask 101.00"),
        ("long", "stop", ["101.01", "120"], ["101", "100.50"], "must be above the ask 101.00"),
        ("short", "limit", ["100.01", "110"], ["100", "99"], "must be above the bid 100.00"),
        ("short", "stop", ["99.99", "80"], ["100", "100.50"], "must be below the bid 100.00"),
    ],
)
def test_each_kind_and_side_needs_its_side_of_the_market(
    side: str, kind: str, good: list[str], bad: list[str], message: str
) -> None:
    eng, events = setup()
    before_fig = figures(eng)
    for i, price in enumerate(bad):
        before = state_dict(eng)
        ev = place(eng, side, kind, price, ref=f"bad{i}")
        assert (ev["type"], ev["reason"], ev["ref"]) == ("rejected", "invalid_order", f"bad{i}")
        assert message in ev["message"], ev["message"]
        assert state_dict(eng)["accounts"] == before["accounts"]
    for i, price in enumerate(good):
        ev = place(eng, side, kind, price, ref=f"ok{i}")
        assert ev["type"] == "order_placed", ev
        assert ev == {
            "seq": ev["seq"], "t": T0, "type": "order_placed", "account": "a",
            "ref": f"ok{i}", "symbol": "X", "side": side, "kind": kind,
            "price": f"{D(price):.2f}", "margin": "100", "leverage": "10",
        }  # fmt: skip
    assert [o["ref"] for o in eng.orders("a")] == ["ok0", "ok1"]
    assert figures(eng) == before_fig  # nothing is reserved while an order waits
    assert eng.figures("a")["pending_orders"] == 2


@pytest.mark.parametrize(
    ("side", "kind", "price", "tp", "sl", "message"),
    [
        # a long limit at 95: brackets around 95, not around the market (bid 100)
        ("long", "limit", "95", None, "95", "stop_loss 95.00 must be below the order price"),
        ("long", "limit", "95", "95", None, "take_profit 95.00 must be above the order price"),
        ("long", "stop", "105", "104", None, "take_profit 104.00 must be above the order"),
        ("short", "limit", "105", "105", None, "take_profit 105.00 must be below the order"),
        ("short", "stop", "95", None, "94.99", "stop_loss 94.99 must be above the order"),
    ],
)
def test_brackets_on_the_wrong_side_of_the_order_price_are_refused(
    side: str, kind: str, price: str, tp: str | None, sl: str | None, message: str
) -> None:
    eng, events = setup()
    before = state_dict(eng)
    ev = place(eng, side, kind, price, take_profit=tp, stop_loss=sl)
    assert ev["reason"] == "invalid_order" and message in ev["message"], ev
    assert state_dict(eng)["accounts"] == before["accounts"] and eng.orders("a") == []


def test_brackets_are_checked_against_the_order_price_not_the_market() -> None:
    eng, _ = setup()
    # TP 98 is below the bid (100) but above the order price: valid for a long limit at 95
    ev = place(eng, "long", "limit", "95", take_profit="98", stop_loss="94.99", ref="L")
    assert (ev["type"], ev["take_profit"], ev["stop_loss"]) == ("order_placed", "98.00", "94.99")
    # SL 100.50 is below the ask (101) but above the order price: valid for a short stop at 99
    ev = place(eng, "short", "stop", "99", take_profit="90", stop_loss="100.50", ref="S")
    assert ev["type"] == "order_placed", ev
    view = eng.orders("a")[1]
    assert (view["take_profit"], view["stop_loss"], view["kind"]) == ("90.00", "100.50", "stop")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"expires": T0}, "is not after the time of the order"),
        ({"expires": T0 - 1}, "is not after the time of the order"),
        ({"expires": "1723161255000000"}, "expires must be an engine time in integer"),
        ({"expires": True}, "expires must be an engine time in integer"),
        ({"symbol": "NOPE"}, "unknown symbol 'NOPE'"),
        ({"leverage": "0.5"}, "leverage 0.5 is outside 1..100"),
        ({"leverage": "101"}, "leverage 101 is outside 1..100"),
        ({"qty": "1"}, "give exactly one of margin or qty"),
        ({"margin": None}, "give exactly one of margin or qty"),
        ({"margin": "0"}, "the order size must be positive"),
        ({"margin": "1.000000001"}, "more than 8 decimal places"),
        ({"margin": None, "qty": "0.000000001"}, "more than 8 decimal places"),
        ({"price": "95.000000001"}, "more than 8 decimal places"),
        ({"price": "0"}, "price must be positive"),
        ({"price": None}, "a pending order needs a price"),
        ({"price": 95.5}, "not the float"),
        ({"trailing_stop": "0"}, "trailing_stop must be positive"),
        ({"trailing_stop": "-1"}, "trailing_stop must be positive"),
        ({"trailing_stop": "0.000000001"}, "more than 8 decimal places"),
        ({"kind": "market"}, "kind must be 'limit' or 'stop'"),
        ({"side": "up"}, "side must be 'long' or 'short'"),
    ],
)
def test_bad_orders_are_refused_with_a_reason_and_change_nothing(
    kwargs: dict[str, Any], fragment: str
) -> None:
    eng, events = setup()
    args: dict[str, Any] = {"symbol": "X", "side": "long", "kind": "limit", "price": "95",
                            "leverage": "10", "margin": "100"}  # fmt: skip
    args.update(kwargs)
    before = state_dict(eng)
    ev = eng.order(
        "a", args.pop("symbol"), args.pop("side"), args.pop("kind"), args.pop("price"),
        args.pop("leverage"), ref="o", t=T0, **args,
    )  # fmt: skip
    assert (ev["type"], ev["reason"], ev["ref"]) == ("rejected", "invalid_order", "o")
    assert fragment in ev["message"], ev["message"]
    assert state_dict(eng)["accounts"] == before["accounts"]
    assert events == [ev]


def test_placement_needs_a_fresh_quote() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    ev = place(eng, "long", "limit", "95")
    assert ev["reason"] == "no_price" and "no quote for X yet" in ev["message"]
    eng.quote("X", T0, "100", "101")
    assert place(eng, "long", "limit", "95", t=T0 + 10 * SEC)["type"] == "order_placed"
    stale = place(eng, "long", "limit", "95", ref="late", t=T0 + 10 * SEC + 1)
    assert stale["reason"] == "no_price" and "10.000 s old" in stale["message"]
    assert len(eng.orders("a")) == 1


def test_a_duplicate_ref_is_refused() -> None:
    eng, _ = setup()
    assert place(eng, "long", "limit", "95", ref="r")["type"] == "order_placed"
    dup = place(eng, "short", "limit", "105", ref="r")
    assert dup["reason"] == "invalid_order" and "'r'" in dup["message"]
    eng.open("a", "X", "long", "10", margin="10", ref="p", t=T0)
    assert place(eng, "long", "limit", "95", ref="p")["reason"] == "invalid_order"
    assert eng.open("a", "X", "long", "10", margin="10", ref="r", t=T0)["reason"] == (
        "invalid_order"
    )
    assert [o["ref"] for o in eng.orders("a")] == ["r"]
    assert [o["side"] for o in eng.orders("a")] == ["long"]


def test_figures_do_not_change_while_orders_wait() -> None:
    eng, _ = setup(balance="50")
    before = figures(eng)
    # margin 1000 is far more than the balance: nothing is reserved, so it is accepted
    assert place(eng, "long", "limit", "95", margin="1000")["type"] == "order_placed"
    assert place(eng, "short", "stop", "90", qty="3")["type"] == "order_placed"
    eng.quote("X", T0 + SEC, "99", "100")  # reaches neither order
    assert figures(eng) == before
    assert len(eng.orders("a")) == 2


# ---------------------------------------------------------------------- fills
@pytest.mark.parametrize(
    ("side", "kind", "price", "near", "edge", "gap", "gap_fill"),
    [
        # long orders watch the ask, short orders the bid; equal triggers
        ("long", "limit", "95", ("94", "95.01"), ("94.90", "95"), ("93", "94"), "94.00"),
        ("long", "stop", "105", ("104.98", "104.99"), ("104.90", "105"), ("106", "107"), "107.00"),
        ("short", "limit", "105", ("104.99", "106"), ("105", "105.10"), ("106", "107"), "106.00"),
        ("short", "stop", "95", ("95.01", "95.02"), ("95", "95.10"), ("93", "94"), "93.00"),
    ],
)
def test_trigger_on_the_exact_price_and_gaps(
    side: str, kind: str, price: str, near: tuple, edge: tuple, gap: tuple, gap_fill: str
) -> None:
    for quote, fill in ((edge, f"{D(price):.2f}"), (gap, gap_fill)):
        eng, events = setup()
        place(eng, side, kind, price, qty="2", ref="o")
        eng.quote("X", T0 + 1, *near)  # one tick short (or only the other side passes)
        assert events[-1]["type"] == "order_placed" and len(eng.orders("a")) == 1
        eng.quote("X", T0 + 2, *quote)
        ev = last(events, "opened")
        assert (ev["ref"], ev["side"], ev["order"], ev["price"]) == ("o", side, kind, fill)
        assert ev["t"] == T0 + 2 and eng.orders("a") == []
        assert eng.position("a", "o")["open_price"] == fill


def test_a_margin_order_is_sized_at_the_fill_price() -> None:
    eng, events = setup(commission_rate="0.001")
    place(eng, "long", "limit", "95", margin="100", leverage="10", ref="m")
    place(eng, "long", "limit", "95", qty="2", leverage="10", ref="q")
    eng.quote("X", T0 + 1, "93", "94")  # gap: fills at 94, better than 95
    m, q = [e for e in events if e["type"] == "opened"]
    # qty = floor_1e-8(100 * 10 / 94) = 10.63829787 ; fee = ceil_1e-8(0.001 * qty * 94)
    assert (m["price"], m["qty"], m["margin"], m["fee"]) == ("94.00", "10.63829787", "100", "1")
    # margin = 2 * 94 / 10 = 18.8 ; fee = 0.001 * 2 * 94 = 0.188
    assert (q["qty"], q["margin"], q["fee"], q["leverage"]) == ("2", "18.8", "0.188", "10")
    f = eng.figures("a")
    assert f["balance"] == D(5000) - D(1) - D("0.188")
    assert f["used_margin"] == D("118.8")


def test_insufficient_margin_at_the_fill_cancels_the_order() -> None:
    eng, events = setup(balance="100")
    place(eng, "long", "limit", "95", margin="80", ref="o")
    eng.open("a", "X", "short", "10", margin="30", ref="p", t=T0)  # free margin now 70
    before = state_dict(eng)["accounts"][0]["positions"]
    eng.quote("X", T0 + 1, "94", "95")
    ev = events[-1]
    assert (ev["type"], ev["ref"], ev["reason"]) == ("order_cancelled", "o", "insufficient_margin")
    assert "80.00 USD" in ev["message"], ev["message"]
    assert eng.orders("a") == [] and [e["type"] for e in events].count("opened") == 1
    assert state_dict(eng)["accounts"][0]["positions"] == before


def test_orders_fill_in_placement_order_each_seeing_the_previous_fills() -> None:
    eng, events = setup(balance="100")
    # heap order would take the 96 limit first; placement order takes the 95 limit first
    place(eng, "long", "limit", "95", margin="60", ref="first")
    place(eng, "long", "limit", "96", margin="60", ref="second")
    place(eng, "short", "stop", "96", margin="30", ref="third")
    place(eng, "long", "stop", "120", margin="1", ref="untouched")
    eng.quote("X", T0 + 1, "95", "95")
    got = [(e["type"], e["ref"], e.get("reason")) for e in events if e["t"] == T0 + 1]
    assert got == [
        ("opened", "first", None),
        ("order_cancelled", "second", "insufficient_margin"),  # 40 left, needs 60
        ("opened", "third", None),  # 40 left, needs 30
    ]
    assert [o["ref"] for o in eng.orders("a")] == ["untouched"]
    assert eng.figures("a")["used_margin"] == D(90)


def test_a_fill_is_closed_by_its_own_stop_loss_on_the_same_quote() -> None:
    eng, events = setup()
    place(eng, "long", "stop", "105", qty="1", stop_loss="104", ref="o")
    eng.quote("X", T0 + 1, "103", "106")  # gap: opens at the ask 106, bid 103 <= SL 104
    opened, closed = events[-2:]
    assert (opened["type"], opened["price"]) == ("opened", "106.00")
    assert (closed["type"], closed["reason"], closed["price"], closed["pnl"]) == (
        "closed", "stop_loss", "103.00", "-3",
    )  # fmt: skip
    assert opened["t"] == closed["t"] == T0 + 1 and eng.positions("a") == []


def test_a_fill_is_closed_by_its_take_profit_on_the_same_quote() -> None:
    eng, events = setup()
    place(eng, "long", "stop", "105", qty="1", take_profit="106", ref="o")
    eng.quote("X", T0 + 1, "106", "106.10")
    assert [(e["type"], e.get("reason"), e["price"]) for e in events[-2:]] == [
        ("opened", None, "106.10"), ("closed", "take_profit", "106.00"),
    ]  # fmt: skip


def test_a_fill_past_its_liquidation_is_liquidated_on_the_same_quote() -> None:
    eng, events = setup()
    # 50x at 95: margin 1.9, liquidation at 95 - 1.9 / 1 = 93.10
    place(eng, "long", "limit", "95", qty="1", leverage="50", ref="o")
    eng.quote("X", T0 + 1, "93", "95")
    opened, closed = events[-2:]
    assert (opened["type"], opened["margin"]) == ("opened", "1.9")
    assert (closed["reason"], closed["price"], closed["pnl"]) == ("liquidation", "93.00", "-1.9")
    assert eng.figures("a")["balance"] == D("4998.1")


def test_cross_stop_out_is_checked_after_the_fills() -> None:
    eng, events = setup(balance="100", mode="cross")
    place(eng, "long", "limit", "95", qty="10", leverage="100", ref="o")  # margin 9.5
    eng.quote("X", T0 + 1, "85", "95")  # opens at 95, upnl -100: equity 0, level 0 %
    got = [(e["type"], e.get("ref"), e.get("reason")) for e in events if e["t"] == T0 + 1]
    assert got[0] == ("opened", "o", None)
    assert got[-1] == ("closed", "o", "stop_out")
    assert last(events, "closed")["price"] == "85.00"
    assert eng.figures("a")["balance"] == 0 and eng.positions("a") == []


def test_an_order_of_another_symbol_is_not_touched() -> None:
    eng, events = setup()
    place(eng, "long", "limit", "95", ref="o")
    eng.quote("Y", T0 + 1, "1", "1")
    assert len(eng.orders("a")) == 1 and events[-1]["type"] == "order_placed"


def test_the_filled_position_carries_the_order_brackets_and_trailing_stop() -> None:
    eng, events = setup()
    place(eng, "short", "limit", "105", qty="1", take_profit="100", stop_loss="110",
          trailing_stop="3", ref="o")  # fmt: skip
    eng.quote("X", T0 + 1, "105", "105.50")
    ev = last(events, "opened")
    assert (ev["order"], ev["price"], ev["trailing_stop"]) == ("limit", "105.00", "3.00")
    pos = eng.position("a", "o")
    assert pos is not None
    assert (pos["take_profit"], pos["stop_loss"]) == ("100.00", "110.00")
    assert (pos["trailing_stop"], pos["trailing_level"]) == ("3.00", "108.50")  # ask + 3
