"""The ticket's preview (workbench/engine/preview.py) against what the engine then does.

For random orders the preview must equal the fill: price, qty, margin, fee, liquidation
price and the free margin the account shows right after; and it must refuse exactly what
the command would reject, with the same reason and message. It never changes the engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine_helpers import SEC, T0, make_engine
from hypothesis import event, given, settings
from hypothesis import strategies as st

from workbench.engine import Engine
from workbench.engine.preview import preview
from workbench.engine.snapshot import state_dict
from workbench.money import fmt_decimal

Events = list[dict[str, Any]]
# mostly what a person would send, with some of everything the engine refuses
LEVERAGES = st.sampled_from(["1", "2.5", "10", "10", "33", "100", "100", "0.5", "0", "101", "ten",
                             None])  # fmt: skip
AMOUNTS = st.sampled_from(["100", "100", "2500", "4990", "5000", "9000", "0.00000001", "-1",
                           "1e3"])  # fmt: skip
QTYS = st.sampled_from(["0.01", "0.5", "1", "40", "0.00000001", "0.000000001", "-0.1"])
BRACKETS = st.sampled_from([None, "80", "99.99", "100", "101", "120", "abc"])
SIDES = st.sampled_from(["long", "short", "long", "short", "sideways"])


def _engine(mode: str, balance: str, bid: str, ask: str) -> tuple[Engine, Events]:
    eng, events = make_engine(commission_rate="0.0007")
    eng.create_account("a", margin_mode=mode, balance=balance, maintenance_rate="0.1")
    eng.quote("X", T0, bid, ask)
    return eng, events


@st.composite
def orders(draw: Any) -> dict[str, Any]:
    by_qty = draw(st.booleans())
    return {
        "side": draw(SIDES),
        "leverage": draw(LEVERAGES),
        "margin": None if by_qty else draw(AMOUNTS),
        "qty": draw(QTYS) if by_qty else None,
    } | (draw(st.fixed_dictionaries({"take_profit": BRACKETS, "stop_loss": BRACKETS}))
         if draw(st.integers(0, 3)) == 0 else {})  # fmt: skip


MODES = st.sampled_from(["isolated", "cross"])
QUOTES = st.sampled_from([("100", "101"), ("100", "100.01"), ("60000", "60000.5")])


@settings(max_examples=300, deadline=None)
@given(MODES, st.sampled_from(["5000", "120", "100000"]), QUOTES, orders(), st.booleans())
def test_a_market_preview_is_the_fill_or_the_rejection(
    mode: str, balance: str, quote: tuple[str, str], order: dict[str, Any], open_first: bool
) -> None:
    eng, _ = _engine(mode, balance, *quote)
    if open_first:  # another position open already: its uPnL counts in the free margin
        eng.open("a", "X", "short", "5", margin="50", t=T0 + SEC)
    side, leverage = order.pop("side"), order.pop("leverage")
    before = state_dict(eng)
    p = preview(eng, "a", "X", side, leverage, **order, t=T0 + 2 * SEC)
    assert state_dict(eng) == before, "a preview changed the engine"
    ev = eng.open("a", "X", side, leverage, **order, ref="r", t=T0 + 2 * SEC)
    event(f"{ev['type']} {ev.get('reason', '')}")
    if not p["ok"]:
        assert ev["type"] == "rejected", (p, ev)
        assert (p["reason"], p["message"]) == (ev["reason"], ev["message"])
        return
    assert ev["type"] == "opened", (p, ev)
    assert (p["price"], p["qty"], p["margin"], p["fee"], p["leverage"]) == (
        ev["price"], ev["qty"], ev["margin"], ev["fee"], ev["leverage"])  # fmt: skip
    view = eng.position("a", "r")
    assert view is not None and p["liquidation_price"] == view["liquidation_price"]
    assert Decimal(p["free_margin_after"]) == eng.figures("a")["free_margin"]


# the prices on each side of a 100 / 101 market a limit or stop may be placed at
PLACEABLE = {("long", "limit"): ["90", "100.5"], ("long", "stop"): ["101.5", "110"],
             ("short", "limit"): ["100.5", "110"], ("short", "stop"): ["90", "99.5"]}  # fmt: skip


@st.composite
def pending(draw: Any) -> tuple[dict[str, Any], str, str | None]:
    order = draw(orders())
    kind = draw(st.sampled_from(["limit", "stop", "limit", "stop", "market-ish"]))
    good = PLACEABLE.get((order["side"], kind))
    if good and draw(st.integers(0, 3)):
        return order, kind, draw(st.sampled_from(good))
    return order, kind, draw(st.sampled_from(["90", "100", "101", "110", "0", "x", None]))


@settings(max_examples=300, deadline=None)
@given(MODES, pending())
def test_a_pending_preview_is_the_placement_and_then_the_fill(
    mode: str, case: tuple[dict[str, Any], str, str | None]
) -> None:
    order, kind, price = case
    eng, events = _engine(mode, "5000", "100", "101")
    side, leverage = order.pop("side"), order.pop("leverage")
    before = state_dict(eng)
    p = preview(eng, "a", "X", side, leverage, **order, kind=kind, price=price, t=T0 + SEC)
    assert state_dict(eng) == before, "a preview changed the engine"
    ev = eng.order("a", "X", side, kind, price, leverage, **order, ref="o", t=T0 + SEC)
    event(f"{ev['type']} {ev.get('reason', '')}")
    if not p["ok"]:
        assert ev["type"] == "rejected", (p, ev)
        assert (p["reason"], p["message"]) == (ev["reason"], ev["message"])
        return
    assert ev["type"] == "order_placed", (p, ev)
    # a quote whose opening-side price is the order's price, with today's spread, fills it
    fill, spread = Decimal(p["price"]), Decimal(1)
    bid, ask = (fill - spread, fill) if side == "long" else (fill, fill + spread)
    eng.quote("X", T0 + 2 * SEC, fmt_decimal(bid), fmt_decimal(ask))
    opened = [e for e in events if e["type"] == "opened"]
    if not opened:  # refused when it filled: the margin is checked then, not at placement
        assert [e["reason"] for e in events if e["type"] == "order_cancelled"], events[-3:]
        return
    (got,) = opened
    assert (p["price"], p["qty"], p["margin"], p["fee"]) == (
        got["price"], got["qty"], got["margin"], got["fee"])  # fmt: skip
    view = eng.position("a", "o")
    if view is None:  # its stop loss was on the fill quote's closing side: closed at once
        assert [e["reason"] for e in events if e["type"] == "closed"] == ["stop_loss"]
        return
    assert p["liquidation_price"] == view["liquidation_price"]
    assert Decimal(p["free_margin_after"]) == eng.figures("a")["free_margin"]


def test_a_stale_quote_or_an_unknown_account_is_refused_as_the_engine_would() -> None:
    eng, _ = _engine("isolated", "5000", "100", "101")
    late = preview(eng, "a", "X", "long", "10", margin="100", t=T0 + 60 * SEC)
    assert (late["ok"], late["reason"]) == (False, "no_price"), late
    assert "quote is 60.000 s old" in late["message"]
    nobody = preview(eng, "zz", "X", "long", "10", margin="100")
    assert nobody == {"ok": False, "reason": "invalid_order", "message": "unknown account 'zz'"}
