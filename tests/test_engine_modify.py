"""Modify an open position's TP, SL and trailing stop (trading-rules.md "Modify")."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import SEC, T0, last, make_engine

from workbench.engine import Engine
from workbench.engine.snapshot import state_dict


def opened(side: str = "long") -> tuple[Engine, list[dict[str, Any]]]:
    """Account a holds P (1 X at 100, 1x: no liquidation in reach), TP/SL 10 away."""
    eng, events = make_engine()
    eng.create_account("a")
    eng.create_account("b")
    eng.quote("X", T0, "100", "100")
    tp, sl = ("110", "90") if side == "long" else ("90", "110")
    eng.open("a", "X", side, "1", qty="1", take_profit=tp, stop_loss=sl, ref="P", t=T0)
    return eng, events


def test_the_modified_event_and_the_new_take_profit_triggers() -> None:
    eng, events = opened()
    ev = eng.modify("a", "P", take_profit="105", t=T0)
    assert {k: v for k, v in ev.items() if k not in ("seq", "t")} == {
        "type": "modified", "account": "a", "ref": "P", "take_profit": "105.00",
        "stop_loss": "90.00", "trailing_stop": None,
    }  # fmt: skip
    eng.quote("X", T0 + 1, "105", "105")
    ev = last(events, "closed")
    assert (ev["reason"], ev["price"]) == ("take_profit", "105.00")


def test_a_removed_stop_loss_no_longer_closes_and_a_new_one_does() -> None:
    eng, events = opened()
    ev = eng.modify("a", "P", stop_loss=None, t=T0)
    assert (ev["take_profit"], ev["stop_loss"]) == ("110.00", None)
    eng.quote("X", T0 + 1, "85", "85")  # past the old stop loss, 90
    assert eng.position("a", "P")["stop_loss"] is None
    assert eng.modify("a", "P", stop_loss="84.99", t=T0 + 1)["stop_loss"] == "84.99"
    eng.quote("X", T0 + 2, "84.99", "85")
    assert last(events, "closed")["reason"] == "stop_loss"


def test_short_brackets_modified() -> None:
    eng, events = opened("short")
    eng.modify("a", "P", take_profit="95", stop_loss="101", t=T0)
    eng.quote("X", T0 + 1, "95", "95.01")  # a short's TP watches the ask
    assert eng.position("a", "P") is not None
    eng.quote("X", T0 + 2, "94.99", "95")
    assert (last(events, "closed")["reason"], last(events, "closed")["price"]) == (
        "take_profit", "95.00",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("side", "changes", "fragment"),
    [
        # validated against the closing-side price now (bid 110 / ask 110.10), not the open
        ("long", {"take_profit": "108"}, "take_profit 108.00 must be above the bid 110.00"),
        ("long", {"stop_loss": "110"}, "stop_loss 110.00 must be below the bid 110.00"),
        ("short", {"take_profit": "110.10"}, "take_profit 110.10 must be below the ask 110.10"),
        ("short", {"stop_loss": "110.09"}, "stop_loss 110.09 must be above the ask 110.10"),
        ("long", {"trailing_stop": "0"}, "trailing_stop must be positive"),
        ("long", {"stop_loss": "1.000000001"}, "more than 8 decimal places"),
        ("long", {"price": "100"}, "only its take_profit, stop_loss and trailing_stop"),
        ("long", {"expires": T0 + SEC}, "only its take_profit, stop_loss and trailing_stop"),
    ],
)
def test_a_wrong_modify_is_refused_and_changes_nothing(
    side: str, changes: dict[str, Any], fragment: str
) -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", side, "1", qty="1", ref="P", t=T0)
    eng.quote("X", T0 + 1, "110", "110.10")
    before = state_dict(eng)
    ev = eng.modify("a", "P", t=T0 + 1, **changes)
    assert (ev["type"], ev["reason"]) == ("rejected", "invalid_order"), ev
    assert fragment in ev["message"], ev["message"]
    assert state_dict(eng)["accounts"] == before["accounts"]


def test_the_closing_price_now_decides_not_the_open_price() -> None:
    eng, events = opened()
    eng.modify("a", "P", take_profit=None, t=T0)
    eng.quote("X", T0 + 1, "120", "120")
    # 105 is above the open price but below the bid: a valid (profit-locking) stop loss
    assert eng.modify("a", "P", stop_loss="105", t=T0 + 1)["stop_loss"] == "105.00"
    eng.quote("X", T0 + 2, "105", "105")
    assert (last(events, "closed")["reason"], last(events, "closed")["pnl"]) == ("stop_loss", "5")


def test_modify_needs_a_fresh_quote_and_a_position_of_ones_own() -> None:
    eng, events = opened()
    eng.open("b", "X", "long", "1", qty="1", ref="theirs", t=T0)
    before = state_dict(eng)["accounts"]
    stale = eng.modify("a", "P", take_profit="111", t=T0 + 10 * SEC + 1)
    assert stale["reason"] == "no_price" and "X quote" in stale["message"]
    for ref in ("theirs", "nope"):
        ev = eng.modify("a", ref, take_profit="111", t=T0 + 10 * SEC + 1)
        assert (ev["type"], ev["reason"], ev["ref"]) == ("rejected", "unknown_order", ref)
    assert state_dict(eng)["accounts"] == before
    eng.quote("X", T0 + 11 * SEC, "100", "100")
    eng.close("a", "P", t=T0 + 11 * SEC)
    assert eng.modify("a", "P", take_profit="111", t=T0 + 11 * SEC)["reason"] == "unknown_order"


def test_a_scenario_modify_line_changes_only_the_fields_present() -> None:
    eng, events = opened()
    ev = eng.apply({"t": T0, "type": "modify", "account": "a", "ref": "P", "stop_loss": None,
                    "trailing_stop": "2"})  # fmt: skip
    assert isinstance(ev, dict)
    assert (ev["take_profit"], ev["stop_loss"], ev["trailing_stop"]) == ("110.00", None, "2.00")
    pos = eng.position("a", "P")
    assert pos is not None and pos["trailing_level"] == "98.00"
