"""Trailing stops (trading-rules.md "Trailing stop"): hand-computed cases, then many
positions on random quote paths against a straightforward model of the rule."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from engine_helpers import T0, last, make_engine

from workbench.engine import Engine, restore, snapshot


def engine(mode: str = "isolated") -> tuple[Engine, list[dict[str, Any]]]:
    eng, events = make_engine()
    eng.create_account("a", margin_mode=mode)
    eng.quote("X", T0, "100", "100.10")
    return eng, events


def level(eng: Engine, ref: str = "P") -> str | None:
    pos = eng.position("a", ref)
    assert pos is not None, f"{ref} is not open"
    return pos["trailing_level"]


def test_a_long_trails_the_highest_bid_and_closes_at_the_bid_that_reaches_it() -> None:
    eng, events = engine()
    ev = eng.open("a", "X", "long", "1", qty="1", trailing_stop="5", ref="P", t=T0)
    assert ev["trailing_stop"] == "5.00" and level(eng) == "95.00"  # bid 100 - 5
    eng.quote("X", T0 + 1, "103", "103.10")
    assert level(eng) == "98.00"
    eng.quote("X", T0 + 2, "101", "101.10")  # the level never moves back
    assert level(eng) == "98.00"
    eng.quote("X", T0 + 3, "98.01", "98.11")
    assert level(eng) == "98.00"
    eng.quote("X", T0 + 4, "98", "98.10")
    ev = last(events, "closed")
    # opened at the ask 100.10: pnl 1 * (98 - 100.10)
    assert (ev["reason"], ev["price"], ev["pnl"]) == ("trailing_stop", "98.00", "-2.1")


def test_a_long_gapping_through_its_level_closes_at_the_worse_bid() -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="1", trailing_stop="5", ref="P", t=T0)
    eng.quote("X", T0 + 1, "110", "110.10")
    eng.quote("X", T0 + 2, "96", "96.10")
    ev = last(events, "closed")
    assert (ev["reason"], ev["price"]) == ("trailing_stop", "96.00")


def test_a_short_trails_the_lowest_ask() -> None:
    eng, events = engine()
    eng.open("a", "X", "short", "1", qty="1", trailing_stop="5", ref="P", t=T0)
    assert level(eng) == "105.10"  # ask 100.10 + 5
    eng.quote("X", T0 + 1, "96.90", "97")
    assert level(eng) == "102.00"
    eng.quote("X", T0 + 2, "98.90", "99")
    assert level(eng) == "102.00"
    eng.quote("X", T0 + 3, "101.90", "101.99")
    assert level(eng) == "102.00"
    eng.quote("X", T0 + 4, "101.90", "102")
    ev = last(events, "closed")
    # opened at the bid 100: pnl 1 * (100 - 102)
    assert (ev["reason"], ev["price"], ev["pnl"]) == ("trailing_stop", "102.00", "-2")


def test_set_by_modify_counts_from_the_bid_at_that_moment() -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="1", ref="P", t=T0)
    eng.quote("X", T0 + 1, "110", "110.10")
    eng.quote("X", T0 + 2, "104", "104.10")
    ev = eng.modify("a", "P", trailing_stop="4", t=T0 + 2)
    assert ev["trailing_stop"] == "4.00"
    assert level(eng) == "100.00"  # 104 - 4: the earlier high of 110 is not "since"
    eng.quote("X", T0 + 3, "100", "100.10")
    assert last(events, "closed")["reason"] == "trailing_stop"


def test_a_new_distance_counts_from_the_moment_it_is_set() -> None:
    """Spec: "the highest bid seen since the distance was set (the bid at that moment
    included)": a changed distance starts from the current bid."""
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="1", trailing_stop="5", ref="P", t=T0)
    eng.quote("X", T0 + 1, "110", "110.10")
    eng.quote("X", T0 + 2, "108", "108.10")
    eng.modify("a", "P", trailing_stop="3", t=T0 + 2)
    assert level(eng) == "105.00"
    eng.quote("X", T0 + 3, "109", "109.10")
    assert level(eng) == "106.00"


def test_a_removed_trailing_stop_no_longer_closes() -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="1", trailing_stop="5", ref="P", t=T0)
    ev = eng.modify("a", "P", trailing_stop=None, t=T0)
    assert ev["trailing_stop"] is None
    eng.quote("X", T0 + 1, "90", "90.10")
    pos = eng.position("a", "P")
    assert pos is not None and (pos["trailing_stop"], pos["trailing_level"]) == (None, None)


def test_set_by_a_pending_order_when_it_fills() -> None:
    eng, events = engine()
    eng.order("a", "X", "long", "stop", "105", "1", qty="1", trailing_stop="2", ref="P", t=T0)
    assert eng.orders("a")[0]["trailing_stop"] == "2.00"
    eng.quote("X", T0 + 1, "104.90", "105")
    assert level(eng) == "102.90"  # the bid at the fill minus 2
    eng.quote("X", T0 + 2, "107", "107.10")
    eng.quote("X", T0 + 3, "105", "105.10")
    ev = last(events, "closed")
    assert (ev["reason"], ev["price"], ev["pnl"]) == ("trailing_stop", "105.00", "0")


@pytest.mark.parametrize(
    ("stop_loss", "bid", "reason"),
    [("97", "96", "stop_loss"), ("90", "97", "trailing_stop"), ("97", "97.50", "trailing_stop")],
)
def test_stop_loss_is_checked_before_the_trailing_stop(
    stop_loss: str, bid: str, reason: str
) -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="1", stop_loss=stop_loss, trailing_stop="2", ref="P",
             t=T0)  # fmt: skip
    eng.quote("X", T0 + 1, bid, "100")
    assert last(events, "closed")["reason"] == reason


def test_liquidation_is_checked_before_the_trailing_stop() -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "10", qty="1", trailing_stop="15", ref="P", t=T0)
    assert eng.position("a", "P")["liquidation_price"] == "90.09"  # 100.10 - 10.01
    eng.quote("X", T0 + 1, "80", "80.10")  # below both 90.09 and 85
    assert last(events, "closed")["reason"] == "liquidation"


def test_a_partial_close_keeps_the_trailing_level() -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="2", trailing_stop="5", ref="P", t=T0)
    eng.quote("X", T0 + 1, "106", "106.10")
    eng.close("a", "P", qty="1", t=T0 + 1)
    assert level(eng) == "101.00"
    eng.quote("X", T0 + 2, "101", "101.10")
    assert (last(events, "closed")["reason"], last(events, "closed")["price"]) == (
        "trailing_stop", "101.00",
    )  # fmt: skip


def test_a_restored_engine_keeps_each_anchor() -> None:
    eng, events = engine()
    eng.open("a", "X", "long", "1", qty="1", trailing_stop="5", ref="P", t=T0)
    eng.quote("X", T0 + 1, "103", "103.10")
    eng.open("a", "X", "long", "1", qty="1", trailing_stop="1", ref="Q", t=T0 + 1)
    eng.quote("X", T0 + 2, "102", "102.10")  # Q: anchor 103, level 102: closes
    other = restore(snapshot(eng))
    assert other.positions("a") == eng.positions("a")
    got: list[dict[str, Any]] = []
    other.subscribe(got.append)
    for e in (eng, other):
        e.quote("X", T0 + 3, "98", "98.10")
    assert got == events[-1:] and got[0]["ref"] == "P"


# ---------------------------------------------------- many positions vs a model
@dataclass
class Trail:
    """The model of one position: its side, distance and best price since set."""

    ref: str
    side: int
    dist: int | None
    anchor: int
    sl: int | None = None


def _text(units: int) -> str:
    return f"{units // 100}.{units % 100:02d}"  # prices in cents (tick 0.01)


def run_random_path(seed: int) -> int:
    """Open/modify trailing positions on a random quote path; compare every close with the
    model. Returns the number of trailing closes seen (the test checks some happen)."""
    rng = random.Random(seed)
    eng, events = make_engine()
    eng.create_account("a", margin_mode="cross", balance="10000000")  # no liquidation
    mid, spread, t = 100_000, 2, T0
    model: dict[str, Trail] = {}
    n = closes = 0
    for step in range(300):
        mid = max(50_000, mid + rng.choice((-1, 1)) * rng.choice((0, 3, 10, 40, 150, 600)))
        spread = rng.choice((0, 1, 2, 5, 30))
        bid, ask = mid, mid + spread
        t += 1000
        seq = events[-1]["seq"] if events else 0
        eng.quote("X", t, _text(bid), _text(ask))
        expect = []
        for m in list(model.values()):  # open order: the engine settles in that order too
            p = bid if m.side > 0 else ask
            if m.dist is not None:
                m.anchor = max(m.anchor, p) if m.side > 0 else min(m.anchor, p)
            why = None
            if m.sl is not None and (p <= m.sl if m.side > 0 else p >= m.sl):
                why = "stop_loss"
            elif m.dist is not None and (
                p <= m.anchor - m.dist if m.side > 0 else p >= m.anchor + m.dist
            ):
                why = "trailing_stop"
            if why:
                expect.append((m.ref, why, _text(p)))
                del model[m.ref]
        got = [(e["ref"], e["reason"], e["price"]) for e in events
               if e["seq"] > seq and e["type"] == "closed"]  # fmt: skip
        assert got == expect, (seed, step, got, expect)
        closes += sum(1 for g in got if g[1] == "trailing_stop")
        for m in model.values():
            want = None if m.dist is None else _text(m.anchor - m.dist * m.side)
            assert level(eng, m.ref) == want, (seed, step, m)
        for _ in range(rng.choice((0, 0, 1, 2, 4))):
            roll = rng.random()
            if roll < 0.6 or not model:
                n += 1
                ref, side = f"r{n}", rng.choice((1, -1))
                dist = rng.choice((1, 2, 5, 20, 50, 200, 500))
                sl = None
                if rng.random() < 0.2:
                    sl = bid - rng.randint(1, 900) if side > 0 else ask + rng.randint(1, 900)
                ev = eng.open("a", "X", "long" if side > 0 else "short", "1", qty="0.01",
                              trailing_stop=_text(dist), ref=ref, t=t,
                              stop_loss=None if sl is None else _text(sl))  # fmt: skip
                assert ev["type"] == "opened", ev
                model[ref] = Trail(ref, side, dist, bid if side > 0 else ask, sl)
            else:
                m = model[rng.choice(sorted(model))]
                dist = rng.choice((None, 3, 30, 300))
                ev = eng.modify("a", m.ref, trailing_stop=None if dist is None else _text(dist),
                                t=t)  # fmt: skip
                assert ev["type"] == "modified", ev
                m.dist, m.anchor = dist, bid if m.side > 0 else ask
    return closes


@pytest.mark.parametrize("seed", range(12))
def test_many_trailing_positions_match_the_model_on_random_paths(seed: int) -> None:
    assert run_random_path(seed) > 5
