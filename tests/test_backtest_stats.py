"""The stats frame: every figure against a hand computation on a small run and trade list."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from workbench.backtest import Strategy, backtest
from workbench.backtest.measures import (
    annual_figures,
    day_closes,
    drawdowns,
    exposure,
    trade_figures,
)
from workbench.domain import Instrument

D = Decimal
S = 1_000_000
H = 3600 * S
DAY = 24 * H
T0 = 1_723_161_600_000_000  # 2024-08-09 00:00:00 UTC
X = Instrument("X", tick_size=D("0.1"))
Y = Instrument("Y", tick_size=D("0.1"))


def q(t: int, p: str, sym: str = "X") -> tuple[str, int, str, str]:
    return (sym, t, p, p)  # no spread: prices by hand


#: Four days of X. The plan: long 1 at 100, closed at 120 and short 2 at 120 (a flip),
#: closed at 114; long 1 at 116, closed at 111.
QUOTES = [
    q(T0 + 6 * H, "100"),
    q(T0 + 18 * H, "110"),
    q(T0 + DAY + 6 * H, "105"),
    q(T0 + DAY + 20 * H, "120"),
    q(T0 + 2 * DAY + 6 * H, "126"),
    q(T0 + 2 * DAY + 18 * H, "114"),
    q(T0 + 3 * DAY + 6 * H, "116"),
    q(T0 + 3 * DAY + 18 * H, "111"),
    q(T0 + 4 * DAY + 6 * H, "111"),
]


class Plan(Strategy):
    """Commands at given quote times."""

    def on_start(self, ctx: Any) -> None:
        ctx.open("X", "long", "10", qty="1")

    def on_quote(self, ctx: Any, quote: Any) -> None:
        t = quote.t - T0
        if t == DAY + 20 * H:
            ctx.close("o1")
            ctx.open("X", "short", "10", qty="2")
        elif t == 2 * DAY + 18 * H:
            ctx.close("o2")
        elif t == 3 * DAY + 6 * H:
            ctx.open("X", "long", "10", qty="1")
        elif t == 3 * DAY + 18 * H:
            ctx.close("o3")


def at(t: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)


def test_every_stat_against_a_hand_computation() -> None:
    res = backtest(Plan, QUOTES, instruments=[X], balance="1000", sample_every="12h")
    eq = res.equity
    assert list(zip(eq["kind"], eq["t"], eq["equity"], strict=True)) == [
        ("start", T0 + 6 * H, 1000),
        ("opened", T0 + 6 * H, 1000),
        ("interval", T0 + 12 * H, 1000),
        ("interval", T0 + DAY, 1010),  # midnight: the close of day 0
        ("interval", T0 + DAY + 12 * H, 1005),
        ("closed", T0 + DAY + 20 * H, 1020),
        ("opened", T0 + DAY + 20 * H, 1020),
        ("interval", T0 + 2 * DAY, 1020),
        ("interval", T0 + 2 * DAY + 12 * H, 1008),
        ("closed", T0 + 2 * DAY + 18 * H, 1032),
        ("interval", T0 + 3 * DAY, 1032),
        ("opened", T0 + 3 * DAY + 6 * H, 1032),
        ("interval", T0 + 3 * DAY + 12 * H, 1032),
        ("closed", T0 + 3 * DAY + 18 * H, 1027),
        ("interval", T0 + 4 * DAY, 1027),
        ("end", T0 + 4 * DAY + 6 * H, 1027),
    ]
    st = res.stats.row(0, named=True)
    assert st["start_time"] == at(T0 + 6 * H) and st["end_time"] == at(T0 + 4 * DAY + 6 * H)
    assert st["duration"] == timedelta(days=4)
    assert st["exposure"] == 72 / 96  # 38 h + 22 h + 12 h of 96 h
    assert (st["start_balance"], st["end_equity"], st["equity_peak"]) == (1000, 1027, 1032)
    assert st["return"] == pytest.approx(0.027)
    assert st["buy_hold_return"] == pytest.approx(0.11)  # mid 100 -> 111

    # daily returns: closes 1010, 1020, 1032, 1027, 1027 (days 0-4) from 1000
    r = [1010 / 1000 - 1, 1020 / 1010 - 1, 1032 / 1020 - 1, 1027 / 1032 - 1, 0.0]
    g = 1.027 ** (1 / 5) - 1
    ann = 1.027 ** (365 / 5) - 1
    vol = math.sqrt((statistics.variance(r) + (1 + g) ** 2) ** 365 - (1 + g) ** 730)
    assert st["return_ann"] == pytest.approx(ann)
    assert st["volatility_ann"] == pytest.approx(vol)
    assert st["cagr"] == pytest.approx(1.027 ** (365 / 4) - 1)  # 4 days
    assert st["sharpe"] == pytest.approx(ann / vol)
    assert st["sortino"] == pytest.approx(ann / (math.sqrt((5 / 1032) ** 2 / 5) * math.sqrt(365)))
    assert st["calmar"] == pytest.approx(ann / (12 / 1020))
    bench = [1, 1.10, 1.20, 1.14, 1.11, 1.11]  # X's mid at each day's close / 100
    equity = [1000, 1010, 1020, 1032, 1027, 1027]
    lr_e = [math.log(b / a) for a, b in zip(equity, equity[1:], strict=False)]
    lr_b = [math.log(b / a) for a, b in zip(bench, bench[1:], strict=False)]
    beta = statistics.covariance(lr_e, lr_b) / statistics.variance(lr_b)
    assert st["beta"] == pytest.approx(beta)
    assert st["alpha"] == pytest.approx(0.027 - beta * 0.11)

    # drawdowns: 1010 -> 1005 (20 h to 1020), 1020 -> 1008 (18 h to 1032), 1032 -> 1027
    # (from 12:00 on day 3, the last sample at the peak, to the end: 18 h)
    assert st["max_drawdown"] == pytest.approx(12 / 1020) and st["max_drawdown_usd"] == 12
    assert st["avg_drawdown"] == pytest.approx((5 / 1010 + 12 / 1020 + 5 / 1032) / 3)
    assert st["max_drawdown_duration"] == timedelta(hours=20)
    assert st["avg_drawdown_duration"] == timedelta(hours=56 / 3)

    # trades: +20 on 100 notional, +12 on 240, -5 on 116
    assert (st["trades"], st["wins"], st["win_rate"]) == (3, 2, pytest.approx(2 / 3))
    assert st["best_trade"] == pytest.approx(0.2)
    assert st["worst_trade"] == pytest.approx(-5 / 116)
    assert st["avg_trade"] == pytest.approx((1.2 * 1.05 * (111 / 116)) ** (1 / 3) - 1)
    assert st["max_trade_duration"] == timedelta(hours=38)
    assert st["avg_trade_duration"] == timedelta(hours=24)
    assert st["profit_factor"] == pytest.approx(32 / 5)
    assert st["expectancy"] == pytest.approx((0.2 + 0.05 - 5 / 116) / 3)
    assert st["expectancy_usd"] == 9
    assert st["sqn"] == pytest.approx(math.sqrt(3) * 9 / math.sqrt(163))  # stdev(20, 12, -5)
    assert st["kelly"] == pytest.approx(2 / 3 - (1 / 3) / (16 / 5))
    assert (st["pnl"], st["fees"], st["swap"], st["written_off"]) == (27, 0, 0, 0)
    assert st["min_margin_level"] == 4200  # 1008 / 24 margin of the short
    assert (st["liquidations"], st["stop_outs"], st["margin_calls"]) == (0, 0, 0)
    assert st["notes"] is None


def test_trade_figures_count_the_fees() -> None:
    fx = Instrument("X", tick_size=D("0.1"), commission_rate=D("0.001"))
    res = backtest(Plan, QUOTES, instruments=[fx], balance="1000", sample_every="12h")
    st = res.stats.row(0, named=True)
    # fees 0.1% of each fill: 100 + 120, 240 + 228, 116 + 111
    assert st["fees"] == D("0.915") and st["pnl"] == 27
    nets = [D("19.78"), D("11.532"), D("-5.227")]
    assert res.closed["net"].to_list() == nets
    assert st["best_trade"] == pytest.approx(0.1978)  # net over the 100 notional
    assert st["worst_trade"] == pytest.approx(-5.227 / 116)
    assert st["profit_factor"] == pytest.approx((19.78 + 11.532) / 5.227)
    assert st["expectancy_usd"] == sum(nets) / 3
    assert st["end_equity"] == D("1026.085")


def test_annual_figures_do_not_depend_on_the_sampling_interval() -> None:
    """They used to be annualised from the samples (-304 on the captures): now from days."""
    coarse = backtest(Plan, QUOTES, instruments=[X], balance="1000", sample_every="12h")
    fine = backtest(Plan, QUOTES, instruments=[X], balance="1000", sample_every="1m")
    assert fine.equity.height > 5000
    for col in ("return_ann", "volatility_ann", "cagr", "sharpe", "sortino", "calmar", "beta"):
        assert fine.stats[col][0] == pytest.approx(coarse.stats[col][0]), col


def test_a_run_shorter_than_two_days_has_no_annual_figures() -> None:
    quotes = [q(T0, "100"), q(T0 + 12 * H, "101"), q(T0 + 47 * H, "99")]
    res = backtest(Plan, quotes, instruments=[X], balance="1000")
    st = res.stats.row(0, named=True)
    for col in ("return_ann", "volatility_ann", "cagr", "sharpe", "sortino", "calmar", "beta"):
        assert st[col] is None, col
    assert st["notes"] == (
        "annualised figures: the run is shorter than 2 days; trade figures: no closed trade"
    )
    assert st["return"] == pytest.approx(-0.001)  # the long 1 X of on_start: 100 -> 99
    assert st["exposure"] == 1.0 and st["trades"] == 0 and st["profit_factor"] is None


@pytest.mark.filterwarnings("ignore:no trades")
def test_buy_and_hold_is_of_the_symbols_the_account_traded() -> None:
    class LongY(Strategy):
        def on_start(self, ctx: Any) -> None:
            ctx.open("Y", "long", "10", qty="1")

    quotes = [q(T0, "100"), q(T0, "50", "Y"), q(T0 + H, "150"), q(T0 + H, "40", "Y")]
    res = backtest({"y": LongY(), "idle": Strategy()}, quotes, instruments=[X, Y], balance="1000")
    bh = dict(zip(res.stats["account"], res.stats["buy_hold_return"], strict=True))
    assert bh["y"] == pytest.approx(-0.2)  # Y 50 -> 40
    assert bh["idle"] == pytest.approx((0.5 - 0.2) / 2)  # nothing traded: X and Y


# ------------------------------------------------------------- the measures one by one
def test_day_closes_carry_the_last_value_over_days_without_one() -> None:
    pts = [(1 * H, 1), (5 * H, 2), (2 * DAY + H, 3), (2 * DAY + 5 * H, 4)]
    assert day_closes(pts, 0, 3) == [2, 2, 4, 4]
    assert day_closes(pts, 0, 0) == [2]


def test_annual_figures_say_why_they_are_missing() -> None:
    short, notes = annual_figures(D(100), [D(110)], DAY, 0.1, 0.0)
    assert set(short.values()) == {None} and notes == [
        "annualised figures: the run is shorter than 2 days"
    ]
    up, notes = annual_figures(
        D(100), [D(101), D(102), D(103)], 3 * DAY, 0.03, 0.0, [1.0, 1.0, 1.0, 1.0], 0.0
    )
    assert up["sortino"] is None and up["calmar"] is None and up["beta"] is None
    assert up["sharpe"] is not None and up["return_ann"] == pytest.approx(1.03 ** (365 / 3) - 1)
    assert notes == [
        "sortino: no losing day",
        "calmar: no drawdown",
        "alpha, beta: the benchmark did not move",
    ]
    flat, notes = annual_figures(D(100), [D(100)] * 3, 3 * DAY, 0.0, 0.0)
    assert flat["sharpe"] is None and flat["return_ann"] == 0 and "sharpe: no volatility" in notes
    wiped, notes = annual_figures(D(100), [D(50), D(0), D(0)], 3 * DAY, -1.0, 1.0)
    assert wiped["return_ann"] == wiped["cagr"] == -1.0 and wiped["calmar"] == -1.0
    assert wiped["sharpe"] is None and notes == [
        "volatility, sharpe, sortino, alpha, beta: equity reached 0"
    ]


def test_drawdowns_episodes_depths_and_durations() -> None:
    pts = [(0, D(100)), (1, D(90)), (2, D(100)), (3, D(120)), (5, D(60)), (9, D(80))]
    dd = drawdowns(pts)
    assert (dd.max, dd.max_usd, dd.episodes) == (0.5, 60, 2)
    assert dd.avg == pytest.approx((0.1 + 0.5) / 2)
    assert (dd.max_duration, dd.avg_duration) == (6, 4)  # 0 -> 2, 3 -> 9 (the end)
    flat = drawdowns([(0, D(5)), (7, D(5))])
    assert (flat.max, flat.avg, flat.max_duration, flat.episodes) == (0, 0, 0, 0)


def test_exposure_counts_overlapping_positions_once() -> None:
    evs = [
        {"type": "opened", "t": 0},
        {"type": "opened", "t": 5},
        {"type": "reduced", "t": 7},
        {"type": "closed", "t": 10},
        {"type": "closed", "t": 20},
        {"type": "opened", "t": 30},
    ]
    assert exposure(evs, 40) == 20 + 10  # 0-20, then 30 to the end


def test_trade_figures_without_losses_or_with_one_trade() -> None:
    def trade(net: str, qty: str = "1", price: str = "100", dur: int = 10) -> dict[str, Any]:
        return {"net": D(net), "qty": qty, "open_price": price, "open_t": 0, "close_t": dur}

    wins = trade_figures([trade("5"), trade("15", "2", "50", 30)])
    assert wins["profit_factor"] is None and wins["kelly"] is None
    assert wins["best_trade"] == pytest.approx(0.15) and wins["worst_trade"] == 0.05
    assert wins["avg_trade_duration"] == timedelta(microseconds=20)
    assert wins["sqn"] == pytest.approx(math.sqrt(2) * 10 / statistics.stdev([5, 15]))
    one = trade_figures([trade("-3")])
    assert one["sqn"] is None and one["profit_factor"] == 0 and one["expectancy_usd"] == -3
    none = trade_figures([])
    assert set(none.values()) == {None}
