"""A strategy's commands: what a call returns, rejections made visible, values reaching the
engine exactly as recorded, and the rounding and risk-sizing helpers."""

from __future__ import annotations

import copy
import logging
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_backtest_simulate import same_as_simulate

from workbench.backtest import Strategy, backtest
from workbench.backtest.sizing import qty_for_risk, round_qty, round_to_tick
from workbench.backtest.tickets import LOGGED_REJECTIONS, Ticket
from workbench.domain import Instrument
from workbench.engine import Engine

T0 = 1_723_161_600_000_000
S = 1_000_000
D = Decimal
X = Instrument("X", tick_size=D("0.1"))


def quotes(*rows: tuple[int, str, str]) -> list[tuple[str, int, str, str]]:
    return [("X", T0 + s * S, bid, ask) for s, bid, ask in rows]


class Refused(Strategy):
    """Commands the engine refuses: from on_start (answered at once) and on_event."""

    def __init__(self, extra: int = 0) -> None:
        self.extra = extra
        self.tickets: dict[str, Ticket] = {}

    def on_start(self, ctx: Any) -> None:
        self.tickets["high"] = ctx.order("X", "long", "limit", "101", "10", qty="1", ref="high")
        self.tickets["ghost"] = ctx.close("ghost", qty="1")
        self.tickets["open"] = ctx.open("X", "long", "10", qty="1", ref="p")

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "opened":
            self.tickets["tp"] = ctx.modify("p", take_profit="99")
            for _ in range(self.extra):
                ctx.cancel("ghost")


def test_a_rejected_command_is_on_its_ticket_logged_and_in_result_rejections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    strat = Refused()
    with caplog.at_level(logging.WARNING, logger="workbench.backtest"):
        res = backtest(strat, quotes((0, "100.0", "100.1"), (1, "100.2", "100.3")),
                       instruments=[X])  # fmt: skip
    high, ghost, opened, tp = (strat.tickets[k] for k in ("high", "ghost", "open", "tp"))
    assert (high.rejected, high.reason) == (True, "invalid_order")
    assert "below the ask 100.1" in high.message
    assert (ghost.rejected, ghost.reason, ghost.command) == (True, "unknown_position", "close")
    assert opened.ok and opened == "p" and opened.event["type"] == "opened"
    assert tp.rejected and "take_profit 99.0 must be above the bid 100.0" in tp.message
    assert "rejected" in repr(tp) and "invalid_order" in repr(tp)
    for copied in (copy.deepcopy(tp), pickle.loads(pickle.dumps(tp))):  # state kept by a strategy
        assert copied == "p" and copied.command == "modify" and copied.event == tp.event
    rej = res.rejections
    assert rej["command"].to_list() == ["order", "close", "modify"]
    assert rej["ref"].to_list() == ["high", "ghost", "p"]
    assert rej["reason"].to_list() == ["invalid_order", "unknown_position", "invalid_order"]
    assert isinstance(rej.schema["time"], pl.Datetime)
    assert res.stats["rejected"][0] == 3
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3
    assert logged[0].startswith(f"main: order high rejected at t={T0} (invalid_order):")
    assert "below the ask 100.1" in logged[0]


def test_many_rejections_are_all_counted_but_logged_only_up_to_a_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="workbench.backtest"):
        res = backtest(Refused(extra=30), quotes((0, "100.0", "100.1")), instruments=[X])
    assert res.rejections.height == res.stats["rejected"][0] == 33
    assert len(caplog.records) == LOGGED_REJECTIONS + 1
    assert "see result.rejections" in caplog.records[-1].getMessage()


class NineDecimals(Strategy):
    def on_start(self, ctx: Any) -> None:
        ctx.open("X", "long", "10", qty="1", take_profit=D("110.123456789"))
        ctx.order("X", "long", "limit", D("99.000000001"), "10", qty="1")
        ctx.open("X", "long", D("10"), qty=D("0.5"), stop_loss=D("90.0"))


def test_a_decimal_reaches_the_engine_as_the_recording_writes_it(tmp_path: Path) -> None:
    """A rejection quoting the value says the same thing in the backtest and in simulate
    (the engine used to get the Decimal object, simulate its text)."""
    res = same_as_simulate(tmp_path, NineDecimals, quotes((0, "100.0", "100.1")),
                           instruments=[X])  # fmt: skip
    messages = [e["message"] for e in res.raw_events if e["type"] == "rejected"]
    assert messages == [
        "take_profit '110.123456789' has more than 8 decimal places",
        "price '99.000000001' has more than 8 decimal places",
    ]
    assert [e["type"] for e in res.raw_events] == ["rejected", "rejected", "opened"]


def test_commands_refuse_floats_and_objects_before_the_engine() -> None:
    class Bad(Strategy):
        def __init__(self, call: Any) -> None:
            self.call = call

        def on_start(self, ctx: Any) -> None:
            self.call(ctx)

    for call, match in (
        (lambda c: c.order("X", "long", "limit", 99.5, "10", qty="1"), "float"),
        (lambda c: c.modify("p", stop_loss=1.5), "float"),
        (lambda c: c.close("p", qty=0.5), "float"),
        (lambda c: c.order("X", "long", "limit", "99", "10", qty=[1]), "qty must be"),
        (lambda c: c.open(1, "long", "10", qty="1"), "symbol must be text"),
    ):
        with pytest.raises(TypeError, match=match):
            backtest(Bad(call), quotes((0, "100.0", "100.1")), instruments=[X])


def test_rounding_helpers_are_exact_and_round_the_safe_way() -> None:
    assert round_qty("0.123456789") == D("0.12345678")
    assert round_qty(D(1) / 3) == D("0.33333333")
    assert round_qty(-D("0.000000019")) == D("-0.00000001")  # toward zero
    assert str(round_qty(2)) == "2.00000000"
    tick = D("0.1")
    assert round_to_tick("100.05", tick) == D("100.0")  # half to even
    assert round_to_tick("100.15", tick) == D("100.2")
    assert round_to_tick("100.01", tick, "up") == D("100.1")
    assert round_to_tick("100.09", tick, "down") == D("100.0")
    assert str(round_to_tick(D("61837.6349"), D("0.01"))) == "61837.63"
    assert round_to_tick("7.3", D("0.25"), "down") == D("7.25")
    with pytest.raises(ValueError, match="rounding must be one of"):
        round_to_tick("1", tick, "sideways")
    with pytest.raises(TypeError, match="float"):
        round_qty(0.1)
    with pytest.raises(ValueError, match="decimal number"):
        round_qty("abc")


def test_qty_for_risk_refuses_what_has_no_answer() -> None:
    assert qty_for_risk("10", "100", "90") == D(1)
    assert qty_for_risk("10", "90", "100") == D(1)  # a short: the stop above
    assert qty_for_risk("0.00000001", "60000", "50000") == D(0)  # less than 1e-8 would do
    for args, match in ((("0", "100", "90"), "risk_usd must be positive"),
                        (("10", "100", "100"), "risk per unit would be 0"),
                        (("10", "-1", "90"), "positive prices")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            qty_for_risk(*args)
    with pytest.raises(TypeError, match="float"):
        qty_for_risk(10.0, "100", "90")


@given(
    risk=st.decimals("0.01", "100000", places=2),
    entry=st.decimals("0.01", "100000", places=2),
    move=st.decimals("0.0001", "0.5", places=4),
    rate=st.sampled_from([D(0), D("0.0002"), D("0.001")]),
    short=st.booleans(),
)
def test_qty_for_risk_is_the_most_the_engine_lets_lose_at_most_the_risk(
    risk: Decimal, entry: Decimal, move: Decimal, rate: Decimal, short: bool
) -> None:
    """Opened at `entry` and closed at `stop` by the engine (fees rounded up to 1e-8 USD
    each), the qty loses at most the risk, and 1e-8 more loses more."""
    stop = (entry * (1 + move) if short else entry * (1 - move)).quantize(D("0.01"))
    if stop <= 0 or stop == entry:
        return
    qty = qty_for_risk(risk, entry, stop, rate)
    eng = Engine([Instrument("Z", D("0.01"), commission_rate=rate)], demo_balance="1e12")

    def loss(q: Decimal, account: str) -> Decimal:
        eng.create_account(account)
        eng.quote("Z", eng.now + 1, entry, entry)
        opened = eng.open(account, "Z", "short" if short else "long", "1", qty=q, ref="r")
        assert opened["type"] == "opened"
        eng.quote("Z", eng.now + 1, stop, stop)
        return D(10**12) - D(eng.close(account, "r")["balance"])

    if qty > 0:
        assert loss(qty, "a") <= risk
    assert loss(qty + D("1e-8"), "b") > risk


def test_ctx_rounding_uses_the_instrument() -> None:
    seen: dict[str, Decimal] = {}

    class Sizer(Strategy):
        def on_start(self, ctx: Any) -> None:
            seen["price"] = ctx.round_price("F", D("100.123"), "up")
            seen["qty"] = ctx.qty_for_risk("F", "10", "100", "90")
            seen["round"] = ctx.round_qty("1.999999999")

    fee = Instrument("F", tick_size=D("0.05"), commission_rate=D("0.001"))
    backtest(Sizer, [("F", T0, "100", "100.05")], instruments=[fee])
    assert seen["price"] == D("100.15")
    assert seen["qty"] == D("0.98135426")  # 10 / (10 + fees 0.1 + 0.09), rounded down
    assert seen["round"] == D("1.99999999")
