"""Rules of trading-rules.md on quotes, opening, figures and closing; hand-computed."""

from __future__ import annotations

import pytest
from engine_helpers import SEC, T0, D, make_engine

from workbench.engine import BadInput, BadQuote
from workbench.engine.snapshot import state_dict


def test_bad_quotes_are_refused_and_change_nothing() -> None:
    eng, events = make_engine()
    eng.quote("X", T0, "100", "100.10")
    before = state_dict(eng)
    for bid, ask in (("0", "1"), ("1", "0"), ("-1", "1"), ("101", "100")):
        with pytest.raises(BadQuote):
            eng.quote("X", T0 + SEC, bid, ask)
    with pytest.raises(BadInput, match="unknown symbol"):
        eng.quote("NOPE", T0 + SEC, "1", "2")
    with pytest.raises(BadInput, match="decimal"):
        eng.quote("X", T0 + SEC, 1.5, "2")
    after = state_dict(eng)
    assert after["quotes"] == before["quotes"] and after["now"] == before["now"]
    assert events == []


def test_a_quote_older_than_the_last_of_its_symbol_is_ignored() -> None:
    eng, _ = make_engine()
    assert eng.quote("X", T0, "100", "101")
    assert not eng.quote("X", T0 - 1, "50", "51")
    assert eng.last_quote("X")["bid"] == D("100")
    assert eng.ignored_quotes == 1


def test_long_opens_at_ask_short_at_bid_sized_by_margin() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "99.90", "100.10")
    long = eng.open("a", "X", "long", "10", margin="100", ref="L", t=T0)
    short = eng.open("a", "X", "short", "3", margin="100", ref="S", t=T0)
    assert long["price"] == "100.10" and short["price"] == "99.90"
    # qty = floor_1e-8(100 * 10 / 100.10) = 9.99000999 ; floor(300 / 99.90) = 3.003003
    assert long["qty"] == "9.99000999"
    assert short["qty"] == "3.003003"
    assert long["margin"] == "100" and short["margin"] == "100"
    f = eng.figures("a")
    assert f["used_margin"] == D(200)
    # long valued at bid: 9.99000999 * (99.90 - 100.10); short at ask: 3.003003 * (99.90 - 100.10)
    upnl = D("9.99000999") * D("-0.20") + D("3.003003") * D("-0.20")
    assert f["equity"] == D(5000) + upnl
    assert f["free_margin"] == f["equity"] - D(200)
    assert f["margin_level"] == f["equity"] / D(200) * 100


def test_sizing_by_qty_computes_margin_and_fee_on_open() -> None:
    eng, _ = make_engine(commission_rate="0.001")
    eng.create_account("a")
    eng.quote("X", T0, "100", "100.10")
    ev = eng.open("a", "X", "long", "20", qty="2", ref="L", t=T0)
    # margin = 2 * 100.10 / 20 = 10.01 ; fee = 0.001 * 2 * 100.10 = 0.2002
    assert ev["margin"] == "10.01" and ev["fee"] == "0.2002"
    assert eng.figures("a")["balance"] == D("4999.7998")


def test_margin_from_qty_is_rounded_up_to_1e_8() -> None:
    eng, _ = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    ev = eng.open("a", "X", "long", "3", qty="1", ref="L", t=T0)
    assert ev["margin"] == "33.33333334"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"symbol": "NOPE"}, "unknown symbol"),
        ({"side": "up"}, "side must be"),
        ({"leverage": "0.5"}, "leverage 0.5 is outside"),
        ({"leverage": "101"}, "leverage 101 is outside"),
        ({"margin": None}, "exactly one of margin or qty"),
        ({"qty": "1"}, "exactly one of margin or qty"),
        ({"margin": "0"}, "must be positive"),
        ({"margin": "-5"}, "must be positive"),
        ({"margin": "0.000000001"}, "more than 8 decimal places"),
        ({"margin": "0.00000001", "leverage": "1"}, "buys less than"),
        ({"stop_loss": "100"}, "stop_loss 100.00 must be below the bid 100.00"),
        ({"take_profit": "99"}, "take_profit 99.00 must be above the bid 100.00"),
        ({"take_profit": "abc"}, "take_profit must be a decimal"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(kwargs: dict, fragment: str) -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100.10")
    args = {"symbol": "X", "side": "long", "leverage": "10", "margin": "100"}
    args.update(kwargs)
    before = state_dict(eng)
    ev = eng.open("a", args.pop("symbol"), args.pop("side"), args.pop("leverage"), t=T0, **args)
    assert ev["type"] == "rejected" and ev["reason"] == "invalid_order"
    assert fragment in ev["message"]
    after = state_dict(eng)
    assert after["accounts"] == before["accounts"]


def test_short_brackets_must_straddle_the_ask() -> None:
    eng, _ = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100.10")
    bad_tp = eng.open("a", "X", "short", "10", margin="10", take_profit="100.10", t=T0)
    bad_sl = eng.open("a", "X", "short", "10", margin="10", stop_loss="100.10", t=T0)
    ok = eng.open("a", "X", "short", "10", margin="10", take_profit="100.09",
                  stop_loss="100.11", t=T0)  # fmt: skip
    assert bad_tp["reason"] == bad_sl["reason"] == "invalid_order"
    assert "below the ask 100.10" in bad_tp["message"]
    assert ok["type"] == "opened"


def test_no_price_without_a_quote_or_with_a_stale_one() -> None:
    eng, _ = make_engine()
    eng.create_account("a")
    ev = eng.open("a", "X", "long", "10", margin="10", t=T0)
    assert ev["reason"] == "no_price" and "no quote for X" in ev["message"]
    eng.quote("X", T0, "100", "100")
    assert eng.open("a", "X", "long", "10", margin="10", t=T0 + 10 * SEC)["type"] == "opened"
    stale = eng.open("a", "X", "long", "10", margin="10", t=T0 + 10 * SEC + 1)
    assert stale["reason"] == "no_price" and "10.000 s old" in stale["message"]
    close = eng.close("a", "p1", t=T0 + 11 * SEC)
    assert close["reason"] == "no_price"
    assert eng.figures("a")["open_positions"] == 1


def test_insufficient_margin_counts_the_fee() -> None:
    eng, _ = make_engine(commission_rate="0.01")
    eng.create_account("a", balance="100")
    eng.quote("X", T0, "100", "100")
    # margin 99 + fee 0.01 * 99 * 10 = 9.9 > 100 free margin
    ev = eng.open("a", "X", "long", "10", margin="99", t=T0)
    assert ev["reason"] == "insufficient_margin"
    assert ev["message"] == "free margin 100.00 USD is less than the 108.90 USD this order needs"
    assert eng.open("a", "X", "long", "10", margin="90", t=T0)["type"] == "opened"  # 90 + 9


def test_manual_close_credits_pnl_minus_fee() -> None:
    eng, events = make_engine(commission_rate="0.001")
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", qty="5", ref="L", t=T0)  # fee 0.5
    eng.quote("X", T0 + SEC, "104", "104.02")
    ev = eng.close("a", "L", t=T0 + SEC)
    # pnl = 5 * (104 - 100) = 20 at the bid ; fee = 0.001 * 5 * 104 = 0.52
    assert (ev["reason"], ev["price"], ev["pnl"], ev["fee"]) == ("manual", "104.00", "20", "0.52")
    assert ev["balance"] == "5018.98"  # 5000 - 0.5 + 20 - 0.52


def test_unknown_position_for_never_opened_closed_or_foreign() -> None:
    eng, _ = make_engine()
    eng.create_account("a")
    eng.create_account("b")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", margin="10", ref="L", t=T0)
    assert eng.close("a", "nope", t=T0)["reason"] == "unknown_position"
    assert eng.close("b", "L", t=T0)["reason"] == "unknown_position"
    assert eng.close("ghost", "L", t=T0)["reason"] == "unknown_position"
    assert eng.close("a", "L", t=T0)["type"] == "closed"
    assert eng.close("a", "L", t=T0)["reason"] == "unknown_position"


def test_a_ref_of_an_open_position_cannot_be_reused() -> None:
    eng, _ = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", margin="10", ref="L", t=T0)
    ev = eng.open("a", "X", "long", "10", margin="10", ref="L", t=T0)
    assert ev["reason"] == "invalid_order" and "already an open position" in ev["message"]


def test_deposit_reset_and_demo_balance() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.create_account("b", balance="1000")
    assert eng.figures("a")["balance"] == D(5000)
    assert eng.deposit("a", "250.5", t=T0)["balance"] == "5250.5"
    for bad in ("0", "-1", "1e12", "abc"):
        ev = eng.deposit("a", bad, t=T0)
        assert ev["type"] == "rejected" and ev["reason"] == "invalid_amount", bad
    assert eng.deposit("ghost", "1", t=T0)["reason"] == "unknown_account"
    eng.quote("X", T0, "100", "100")
    eng.open("b", "X", "long", "5", qty="1", ref="L", t=T0)
    eng.quote("X", T0 + SEC, "90", "90")
    ev = eng.reset("b", t=T0 + SEC)
    closed = [e for e in events if e["type"] == "closed"][-1]
    assert closed["reason"] == "reset" and closed["pnl"] == "-10"
    assert ev["type"] == "reset" and ev["balance"] == "1000"
    assert eng.figures("b")["open_positions"] == 0


def test_events_are_numbered_and_timed() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", margin="10", t=T0 + 5)
    eng.deposit("a", "1", t=T0 + 7)
    assert [e["seq"] for e in events] == [1, 2]
    assert [e["t"] for e in events] == [T0 + 5, T0 + 7]
    with pytest.raises(BadInput, match="before engine time"):
        eng.deposit("a", "1", t=T0)


def test_spread_markup_widens_the_quote_to_the_tick() -> None:
    eng, _ = make_engine(spread_markup_bps="10")
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    q = eng.last_quote("X")
    # half of 10 bps of mid 100 = 0.05 each side
    assert (q["bid"], q["ask"]) == (D("99.95"), D("100.05"))
    assert eng.open("a", "X", "long", "1", qty="1", t=T0)["price"] == "100.05"


def test_figures_refuse_unknown_accounts() -> None:
    eng, _ = make_engine()
    with pytest.raises(BadInput, match="unknown account"):
        eng.figures("nobody")


def test_reset_can_switch_the_margin_mode() -> None:
    eng, events = make_engine()
    eng.create_account("c", margin_mode="cross", balance="100")
    eng.quote("X", T0, "100", "100")
    eng.open("c", "X", "long", "10", margin="90", ref="L", t=T0)
    eng.quote("X", T0 + SEC, "94", "94")  # equity 46 / used 90: margin call
    assert events[-1]["type"] == "margin_call"
    ev = eng.reset("c", "isolated", t=T0 + 2 * SEC)
    assert ev == {"seq": ev["seq"], "t": T0 + 2 * SEC, "type": "reset", "account": "c",
                  "balance": "100", "margin_mode": "isolated"}  # fmt: skip
    assert eng.figures("c")["margin_mode"] == "isolated"
    # isolated now: a loss past the margin liquidates the position, no account-wide call
    eng.open("c", "X", "long", "10", margin="10", ref="M", t=T0 + 2 * SEC)
    n = len(events)
    eng.quote("X", T0 + 3 * SEC, "80", "80")
    assert [e["type"] for e in events[n:]] == ["closed"]
    assert events[-1]["reason"] == "liquidation"
    bad = eng.reset("c", "portfolio", t=T0 + 3 * SEC)
    assert bad["type"] == "rejected" and bad["reason"] == "invalid_margin_mode"
    assert eng.figures("c")["margin_mode"] == "isolated"
    back = eng.apply({"t": T0 + 4 * SEC, "type": "reset", "account": "c", "margin_mode": "cross"})
    assert back["margin_mode"] == "cross" and eng.figures("c")["margin_mode"] == "cross"
