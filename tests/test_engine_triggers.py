"""TP/SL triggers, isolated liquidation, cross margin and swap; hand-computed."""

from __future__ import annotations

from engine_helpers import SEC, T0, D, last, make_engine

from workbench.engine import next_rollover_after


def _closed(events: list[dict]) -> list[dict]:
    return [e for e in events if e["type"] == "closed"]


def test_long_take_profit_on_bid_and_fill_at_the_quote() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", qty="1", take_profit="105", ref="L", t=T0)
    eng.quote("X", T0 + 1, "104.99", "105.50")  # ask past TP: a long's TP watches the bid
    assert _closed(events) == []
    eng.quote("X", T0 + 2, "106.20", "106.30")  # gap past TP: fills at the bid, 106.20
    ev = last(events, "closed")
    assert (ev["reason"], ev["price"], ev["pnl"]) == ("take_profit", "106.20", "6.2")


def test_long_stop_loss_gap_fills_at_the_worse_price() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "2", qty="1", stop_loss="95", ref="L", t=T0)
    eng.quote("X", T0 + 1, "95.01", "95.02")
    assert _closed(events) == []
    eng.quote("X", T0 + 2, "93.50", "93.60")
    ev = last(events, "closed")
    assert (ev["reason"], ev["price"], ev["pnl"]) == ("stop_loss", "93.50", "-6.5")


def test_short_triggers_watch_the_ask() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "short", "2", qty="1", take_profit="90", stop_loss="110", ref="S", t=T0)
    eng.open("a", "X", "short", "2", qty="1", take_profit="90", stop_loss="110", ref="S2", t=T0)
    eng.quote("X", T0 + 1, "89", "90.01")  # bid past TP, ask not: nothing
    assert _closed(events) == []
    eng.quote("X", T0 + 2, "89", "90")  # ask <= 90: TP for both, at the ask
    tp = _closed(events)
    assert [(e["ref"], e["reason"], e["price"], e["pnl"]) for e in tp] == [
        ("S", "take_profit", "90.00", "10"),
        ("S2", "take_profit", "90.00", "10"),
    ]
    eng.open("a", "X", "short", "2", qty="1", stop_loss="95", ref="S3", t=T0 + 3)
    eng.quote("X", T0 + 4, "94", "95")  # ask >= 95: stop loss (opened at the bid, 89)
    ev = last(events, "closed")
    assert (ev["ref"], ev["reason"], ev["pnl"]) == ("S3", "stop_loss", "-6")


def test_liquidation_is_checked_before_stop_loss_before_take_profit() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    # margin 10 at 10x: qty 1, liquidated when bid <= 90 ; SL at 91 is above it
    eng.open("a", "X", "long", "10", margin="10", stop_loss="91", ref="L", t=T0)
    eng.quote("X", T0 + 1, "89", "89")  # both liq and SL hold: liquidation wins
    ev = last(events, "closed")
    assert ev["reason"] == "liquidation" and ev["pnl"] == "-10"
    # a gap through both SL and TP levels of a short: the stop (ask >= SL) wins over TP
    eng.open("a", "X", "short", "1", qty="1", stop_loss="95", take_profit="80", ref="S",
             t=T0 + 2)  # fmt: skip
    eng.quote("X", T0 + 3, "70", "96")
    assert last(events, "closed")["reason"] == "stop_loss"


def test_stop_loss_beats_take_profit_when_a_spread_straddles_both() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "1", qty="1", stop_loss="99", take_profit="101", ref="L", t=T0)
    eng.quote("X", T0 + 1, "98", "102")
    assert last(events, "closed")["reason"] == "stop_loss"


def test_isolated_liquidation_with_maintenance_rate() -> None:
    eng, events = make_engine()
    eng.create_account("a", balance="1000", maintenance_rate="0.05")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", margin="100", ref="L", t=T0)  # qty 10
    # margin + upnl <= 0.05 * margin  <=>  bid <= 100 - 95/10 = 90.50
    eng.quote("X", T0 + 1, "90.51", "90.51")
    assert _closed(events) == []
    eng.quote("X", T0 + 2, "90.50", "90.50")
    ev = last(events, "closed")
    assert (ev["reason"], ev["pnl"], ev["balance"]) == ("liquidation", "-95", "905")
    assert eng.position("a", "L") is None


def test_isolated_gap_loss_is_capped_at_the_margin_fee_included() -> None:
    eng, events = make_engine(commission_rate="0.001")
    eng.create_account("a", balance="110.1")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "short", "10", margin="100", ref="S", t=T0)  # qty 10, fee 1
    eng.quote("X", T0 + 1, "150", "150")  # upnl -500: capped at the margin
    ev = last(events, "closed")
    assert (ev["reason"], ev["pnl"], ev["fee"]) == ("liquidation", "-100", "0")
    assert ev["balance"] == "9.1"
    assert eng.figures("a")["balance"] >= 0


def test_cross_margin_call_stop_out_order_and_write_off() -> None:
    eng, events = make_engine()
    eng.create_account("c", margin_mode="cross", balance="100", stop_out_level="50")
    eng.quote("X", T0, "100", "100")
    eng.quote("Y", T0, "50", "50")
    eng.open("c", "X", "long", "10", qty="1", ref="x", t=T0)  # margin 10
    eng.open("c", "Y", "long", "10", qty="2", ref="y", t=T0)  # margin 10
    eng.quote("X", T0 + 1, "12", "12")  # equity 12 = 60 % of 20: margin call
    assert last(events, "margin_call")["margin_level"] == "60.00"
    eng.quote("X", T0 + 2, "11", "11")  # 55 %: no second call before re-arming
    assert len([e for e in events if e["type"] == "margin_call"]) == 1
    eng.quote("Y", T0 + 3, "49", "49")  # equity 9 = 45 % <= 50: stop out the worst (x, -89)
    out = last(events, "closed")
    assert (out["ref"], out["reason"], out["pnl"], out["balance"]) == ("x", "stop_out", "-89", "11")
    f = eng.figures("c")
    assert f["margin_level"] == D(90)  # (11 - 2) / 10: above the call level again, re-armed
    eng.quote("Y", T0 + 4, "44", "44")  # equity -1: new margin call, then stop out y
    calls = [e for e in events if e["type"] == "margin_call"]
    assert [c["margin_level"] for c in calls] == ["60.00", "-10.00"]
    out = last(events, "closed")
    assert (out["ref"], out["pnl"], out["balance"], out["written_off"]) == ("y", "-12", "0", "1")
    assert eng.figures("c")["balance"] == 0


def test_cross_stop_out_at_zero_closes_least_profitable_first() -> None:
    eng, events = make_engine()
    eng.create_account("c", margin_mode="cross", balance="30")
    eng.quote("X", T0, "100", "100")
    eng.open("c", "X", "long", "10", qty="1", ref="long", t=T0)
    eng.open("c", "X", "short", "10", qty="1.2", ref="short", t=T0)
    eng.quote("X", T0 + 1, "160", "160")  # long +60, short -72: equity 18, level 18/22
    assert _closed(events) == []
    eng.quote("X", T0 + 2, "300", "300")  # long +200, short -240: equity -10 -> stop out
    out = [e for e in events if e["type"] == "closed"]
    # the short (-240) goes first; equity is still -10 on 10 of margin, so the long follows
    assert [(e["ref"], e["pnl"]) for e in out] == [("short", "-240"), ("long", "200")]
    assert out[0]["balance"] == "-210" and "written_off" not in out[0]
    assert (out[1]["balance"], out[1]["written_off"]) == ("0", "10")
    assert eng.figures("c")["balance"] == 0


def test_cross_accounts_are_watched_across_symbols() -> None:
    eng, events = make_engine()
    eng.create_account("c", margin_mode="cross", balance="20")
    eng.quote("X", T0, "100", "100")
    eng.quote("Y", T0, "100", "100")
    eng.open("c", "X", "long", "10", qty="1", ref="x", t=T0)
    eng.open("c", "Y", "short", "10", qty="1", ref="y", t=T0)
    for i in range(1, 6):  # each symbol moves 2 per step against the account
        eng.quote("X", T0 + i, str(100 - 2 * i), str(100 - 2 * i))
        eng.quote("Y", T0 + i, str(100 + 2 * i), str(100 + 2 * i))
    # after step 2: equity 20 - 8 = 12 = 60 % of 20 -> margin call exactly there
    call = last(events, "margin_call")
    assert call["t"] == T0 + 2 and call["margin_level"] == "60.00"
    # equity 0 at step 5 (X 90, Y 110): stop out at 0 %
    outs = _closed(events)
    assert outs and outs[0]["t"] == T0 + 5 and outs[0]["reason"] == "stop_out"


def test_swap_is_charged_at_each_2200_utc_rollover() -> None:
    eng, events = make_engine(swap_long="0.001", swap_short="-0.0005")
    eng.create_account("a")
    roll = next_rollover_after(T0)
    eng.quote("X", roll - 3600 * SEC, "100", "100.02")
    eng.open("a", "X", "long", "1", qty="2", ref="L", t=roll - 3600 * SEC)
    eng.open("a", "X", "short", "1", qty="2", ref="S", t=roll - 3600 * SEC)
    eng.quote("X", roll - 1, "120", "120.02")
    assert [e for e in events if e["type"] == "swap"] == []
    eng.quote("X", roll + 86_400 * SEC + 1, "130", "130")  # passes two rollovers
    swaps = [e for e in events if e["type"] == "swap"]
    # long pays 0.001 * 2 * 120 (bid of the last quote) = 0.24 ; short gets 0.0005 * 2 * 120.02
    assert [(s["ref"], s["amount"], s["t"]) for s in swaps] == [
        ("L", "0.24", roll), ("S", "-0.12002", roll),
        ("L", "0.24", roll + 86_400 * SEC), ("S", "-0.12002", roll + 86_400 * SEC),
    ]  # fmt: skip
    assert eng.figures("a")["balance"] == D(5000) - 2 * D("0.24") + 2 * D("0.12002")
    assert eng.position("a", "L")["swap"] == "0.48"


def test_no_swap_for_positions_opened_after_the_rollover() -> None:
    eng, events = make_engine(swap_long="0.001")
    eng.create_account("a")
    roll = next_rollover_after(T0)
    eng.quote("X", roll, "100", "100")
    eng.open("a", "X", "long", "10", qty="1", t=roll)
    eng.quote("X", roll + 3600 * SEC, "100", "100")
    assert [e for e in events if e["type"] == "swap"] == []


def test_listener_commands_run_after_the_current_input() -> None:
    eng, events = make_engine()
    eng.create_account("a")
    eng.quote("X", T0, "100", "100")
    eng.open("a", "X", "long", "10", qty="1", take_profit="101", ref="r1", t=T0)

    def reenter(ev: dict) -> None:
        if ev["type"] == "closed" and ev["ref"] == "r1":
            eng.open("a", "X", "long", "10", qty="1", ref="r2")

    eng.subscribe(reenter)
    eng.quote("X", T0 + 5, "101", "101.01")
    opened = last(events, "opened")
    assert (opened["ref"], opened["price"], opened["t"]) == ("r2", "101.01", T0 + 5)
    assert [e["type"] for e in events[-2:]] == ["closed", "opened"]


def test_a_listener_may_trade_on_a_swap_event() -> None:
    eng, events = make_engine(swap_long="0.001")
    eng.create_account("a")
    roll = next_rollover_after(T0)
    eng.quote("X", roll - SEC, "100", "100")
    eng.open("a", "X", "long", "1", qty="1", ref="L", t=roll - SEC)

    def close_on_swap(ev: dict) -> None:
        if ev["type"] == "swap":
            eng.close("a", "L")

    eng.subscribe(close_on_swap)
    eng.quote("X", roll + 5 * SEC, "101", "101")
    kinds = [(e["type"], e["t"]) for e in events[-2:]]
    assert kinds == [("swap", roll), ("closed", roll)]
    assert len([e for e in events if e["type"] == "swap"]) == 1
