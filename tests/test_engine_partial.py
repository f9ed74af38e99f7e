"""Partial close (trading-rules.md "Partial close"): `close` with a `qty`; hand-computed."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import SEC, T0, D, last, make_engine

from workbench.engine import Engine
from workbench.engine.snapshot import state_dict


def opened(mode: str = "isolated", balance: str | None = None, maintenance_rate: str = "0",
           **inst: Any) -> tuple[Engine, list[dict[str, Any]]]:  # fmt: skip
    """Account a holds L: long 4 X at 100, 10x (margin 40), TP 120, SL 90.01."""
    eng, events = make_engine(**inst)
    eng.create_account("a", margin_mode=mode, balance=balance,
                       maintenance_rate=maintenance_rate)  # fmt: skip
    eng.quote("X", T0, "100", "100")
    ev = eng.open("a", "X", "long", "10", qty="4", take_profit="120", stop_loss="90.01", ref="L",
                  t=T0)  # fmt: skip
    assert ev["type"] == "opened" and ev["margin"] == "40"
    return eng, events


def fields(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ev.items() if k not in ("seq", "t")}


def test_part_of_a_long_closes_at_the_bid_and_frees_its_share_of_the_margin() -> None:
    eng, events = opened(commission_rate="0.001")  # open fee 0.001 * 4 * 100 = 0.4
    eng.quote("X", T0 + 1, "110", "110.10")
    ev = eng.close("a", "L", qty="1", t=T0 + 1)
    # pnl 1 * (110 - 100) = 10 ; fee 0.001 * 1 * 110 = 0.11 ; 5000 - 0.4 + 10 - 0.11
    assert fields(ev) == {
        "type": "reduced", "account": "a", "ref": "L", "reason": "manual", "price": "110.00",
        "qty": "1", "pnl": "10", "fee": "0.11", "balance": "5009.49", "remaining_qty": "3",
    }  # fmt: skip
    pos = eng.position("a", "L")
    assert pos is not None
    assert (pos["qty"], pos["margin"], pos["open_price"]) == ("3", "30", "100.00")
    assert (pos["take_profit"], pos["stop_loss"], pos["upnl"]) == ("120.00", "90.01", "30")
    f = eng.figures("a")
    assert (f["balance"], f["used_margin"], f["equity"]) == (D("5009.49"), 30, D("5039.49"))
    end = eng.close("a", "L", t=T0 + 2)  # no qty: the rest, as a close
    assert (end["type"], end["pnl"], end["fee"], end["balance"]) == (
        "closed", "30", "0.33", "5039.16",
    )  # fmt: skip
    assert eng.figures("a")["used_margin"] == 0


def test_part_of_a_short_closes_at_the_ask() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100.50")
    eng.open("a", "X", "short", "5", qty="2", ref="S", t=T0)  # at 100: margin 40
    eng.quote("X", T0 + 1, "94.90", "95")
    ev = eng.close("a", "S", qty="0.5", t=T0 + 1)
    assert (ev["price"], ev["qty"], ev["pnl"], ev["remaining_qty"]) == (
        "95.00",
        "0.5",
        "2.5",
        "1.5",
    )
    assert ev["balance"] == "5002.5"
    assert eng.position("a", "S")["margin"] == "30"


def test_the_whole_qty_is_a_close() -> None:
    eng, events = opened()
    eng.quote("X", T0 + 1, "101", "101")
    ev = eng.close("a", "L", qty="4.00000000", t=T0 + 1)
    assert (ev["type"], ev["reason"], ev["pnl"], ev["balance"]) == ("closed", "manual", "4", "5004")
    assert eng.positions("a") == [] and eng.figures("a")["used_margin"] == 0


@pytest.mark.parametrize(
    ("qty", "fragment"),
    [
        ("4.00000001", "more than the 4 position 'L' holds"),
        ("0", "must be positive"),
        ("-1", "must be positive"),
        ("0.000000001", "more than 8 decimal places"),
        ("abc", "qty must be a decimal number"),
        (0.5, "not the float"),
    ],
)
def test_bad_qty_is_refused_and_changes_nothing(qty: object, fragment: str) -> None:
    eng, events = opened()
    eng.quote("X", T0 + 1, "101", "101")
    before = state_dict(eng)
    ev = eng.close("a", "L", qty=qty, t=T0 + 1)
    assert (ev["type"], ev["reason"], ev["ref"]) == ("rejected", "invalid_order", "L")
    assert fragment in ev["message"], ev["message"]
    assert state_dict(eng)["accounts"] == before["accounts"]


def test_a_partial_close_needs_a_fresh_quote_and_an_open_position() -> None:
    eng, events = opened()
    assert eng.close("a", "L", qty="1", t=T0 + 11 * SEC)["reason"] == "no_price"
    assert eng.close("a", "nope", qty="1", t=T0 + 11 * SEC)["reason"] == "unknown_position"
    assert eng.position("a", "L")["qty"] == "4"


def test_margin_shares_that_do_not_divide_evenly_neither_appear_nor_vanish() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "10", "10")
    eng.open("a", "X", "long", "3", qty="3", ref="L", t=T0)  # margin 3 * 10 / 3 = 10
    eng.close("a", "L", qty="1", t=T0)  # frees 10 / 3, rounded down to 1e-16
    assert eng.position("a", "L")["margin"] == "6.6666666666666667"
    eng.close("a", "L", qty="1", t=T0)  # frees 6.6666666666666667 / 2, rounded down
    assert eng.position("a", "L")["margin"] == "3.3333333333333334"
    assert eng.figures("a")["used_margin"] == D("3.3333333333333334")
    assert eng.figures("a")["balance"] == 5000


def test_isolated_remainder_liquidates_on_its_own_margin_and_qty() -> None:
    # maintenance 5 %: liquidated when margin + upnl <= 0.05 * margin,
    # i.e. at open - 0.95 * margin / qty = 100 - 0.95 * 40 / 4 = 90.50
    eng, events = opened(maintenance_rate="0.05")
    eng.modify("a", "L", stop_loss=None, t=T0)
    assert eng.position("a", "L")["liquidation_price"] == "90.50"
    eng.quote("X", T0 + 1, "105", "105")
    eng.close("a", "L", qty="1", t=T0 + 1)  # +5; the rest: margin 30, qty 3
    assert eng.position("a", "L")["liquidation_price"] == "90.50"  # 100 - 0.95 * 30 / 3
    eng.quote("X", T0 + 2, "90.51", "90.51")
    assert eng.position("a", "L") is not None
    eng.quote("X", T0 + 3, "90.50", "90.50")
    ev = last(events, "closed")
    # 3 * (90.50 - 100) = -28.5 (1.5 of the 30 margin is left, as the rule says)
    assert (ev["reason"], ev["price"], ev["pnl"], ev["balance"]) == (
        "liquidation", "90.50", "-28.5", "4976.5",
    )  # fmt: skip


def test_isolated_remainder_loses_at_most_its_remaining_margin_through_a_gap() -> None:
    eng, events = opened()
    eng.modify("a", "L", stop_loss=None, t=T0)
    eng.quote("X", T0 + 1, "105", "105")
    eng.close("a", "L", qty="1", t=T0 + 1)  # +5 ; the rest: margin 30, liquidation at 90
    assert eng.position("a", "L")["liquidation_price"] == "90.00"
    eng.quote("X", T0 + 2, "80", "80")  # 3 * -20 = -60, capped at the remaining margin
    ev = last(events, "closed")
    assert (ev["reason"], ev["pnl"], ev["balance"]) == ("liquidation", "-30", "4975")


def test_cross_partial_close_rearms_the_margin_call_and_the_rest_is_stopped_out() -> None:
    eng, events = make_engine()
    eng.create_account("a", margin_mode="cross", balance="100")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "20", qty="10", ref="L", t=T0)  # margin 50
    eng.quote("X", T0 + 1, "92", "92")  # upnl -80: equity 20, level 40 %
    assert (events[-1]["type"], events[-1]["margin_level"]) == ("margin_call", "40.00")
    ev = eng.close("a", "L", qty="5", t=T0 + 2)
    assert (ev["type"], ev["pnl"], ev["balance"], ev["remaining_qty"]) == (
        "reduced", "-40", "60", "5",
    )  # fmt: skip
    f = eng.figures("a")  # upnl -40, equity 20, used 25: level 80 %, above the call again
    assert (f["equity"], f["used_margin"], f["margin_level"]) == (20, 25, 80)
    eng.quote("X", T0 + 3, "90", "90")  # equity 10, level 40 %: a second call
    assert (events[-1]["type"], events[-1]["margin_level"]) == ("margin_call", "40.00")
    eng.quote("X", T0 + 4, "88", "88")  # equity 0: stop-out of the 5 left
    ev = events[-1]
    assert (ev["type"], ev["reason"], ev["pnl"], ev["balance"]) == (
        "closed",
        "stop_out",
        "-60",
        "0",
    )


def test_a_scenario_close_line_with_qty() -> None:
    eng, events = opened()
    rec = {"t": T0 + 1, "type": "close", "account": "a", "ref": "L", "qty": "2.5"}
    ev = eng.apply(rec)
    assert isinstance(ev, dict) and (ev["type"], ev["remaining_qty"]) == ("reduced", "1.5")


def test_the_refusal_quotes_a_large_position_qty_exactly() -> None:
    """A qty of 8 decimals and 16 digits is more than a float holds: the message must not
    print a qty the position does not have (this one printed 86252073.09028450)."""
    eng, events = make_engine(tick_size="0.00000001")
    eng.create_account("a")
    eng.quote("X", T0, "0.00001", "0.00001")  # a meme coin: 86 million units cost 862 USD
    eng.open("a", "X", "long", "1", qty="86252073.09028449", ref="L", t=T0)
    ev = eng.close("a", "L", qty="86252074", t=T0)
    assert "more than the 86252073.09028449 position 'L' holds" in ev["message"], ev
