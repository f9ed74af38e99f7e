"""A pending order's life after placement: expiry, cancel, reset and modify
(trading-rules.md "Pending orders" and "Modify"). Quote of X: bid 100, ask 101."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import SEC, T0, make_engine

from workbench.engine import KEEP, Engine
from workbench.engine.snapshot import state_dict


def setup() -> tuple[Engine, list[dict[str, Any]]]:
    eng, events = make_engine()
    eng.create_account("a")
    eng.create_account("b")
    eng.quote("X", T0, "100", "101")
    return eng, events


def place(eng: Engine, ref: str, price: str = "95", account: str = "a", **kw: Any) -> dict:
    args: dict[str, Any] = {"side": "long", "kind": "limit", "t": T0, "qty": "1"}
    args.update(kw)
    return eng.order(account, "X", args.pop("side"), args.pop("kind"), price, "10", ref=ref,
                     **args)  # fmt: skip


def since(events: list[dict[str, Any]], seq: int) -> list[tuple]:
    return [(e["type"], e.get("ref"), e.get("reason"), e["t"]) for e in events if e["seq"] > seq]


# --------------------------------------------------------------------- expiry
def test_an_order_expires_before_the_quote_at_its_expiry_time_fills_it() -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + 5 * SEC)
    seq = events[-1]["seq"]
    eng.quote("X", T0 + 5 * SEC, "94", "95")  # would fill it, but it expires first
    assert since(events, seq) == [("order_cancelled", "o", "expired", T0 + 5 * SEC)]
    assert eng.orders("a") == [] and eng.positions("a") == []


def test_an_order_fills_on_a_quote_one_microsecond_before_its_expiry() -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + 5 * SEC)
    eng.quote("X", T0 + 5 * SEC - 1, "94", "95")
    assert events[-1]["type"] == "opened" and events[-1]["ref"] == "o"
    eng.quote("X", T0 + 6 * SEC, "94", "95")
    assert events[-1]["type"] == "opened"  # a filled order does not expire


def test_expiry_is_stamped_with_the_time_of_the_input_that_finds_it() -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + 3)
    seq = events[-1]["seq"]
    eng.deposit("a", "10", t=T0 + 7 * SEC)  # the first input at or after the expiry
    assert since(events, seq) == [
        ("order_cancelled", "o", "expired", T0 + 7 * SEC),
        ("deposit", None, None, T0 + 7 * SEC),
    ]


def test_any_input_expires_orders_even_a_quote_of_another_symbol() -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + SEC)
    eng.quote("Y", T0 + SEC, "1", "2")
    assert events[-1]["type"] == "order_cancelled" and events[-1]["reason"] == "expired"


def test_earliest_expiry_first_then_placement_order() -> None:
    eng, events = setup()
    for ref, exp in (("A", 30), ("B", 20), ("C", 20), ("D", 10), ("E", 50)):
        place(eng, ref, expires=T0 + exp, account="b" if ref == "C" else "a")
    seq = events[-1]["seq"]
    eng.quote("X", T0 + 40, "100", "101")
    assert [(e["ref"], e["account"]) for e in events if e["seq"] > seq] == [
        ("D", "a"), ("B", "a"), ("C", "b"), ("A", "a"),
    ]  # fmt: skip
    assert [o["ref"] for o in eng.orders("a")] == ["E"]


def test_an_expired_ref_is_free_for_the_input_that_expired_it() -> None:
    eng, events = setup()
    place(eng, "r", expires=T0 + SEC)
    ev = eng.open("a", "X", "long", "10", margin="10", ref="r", t=T0 + SEC)
    assert ev["type"] == "opened", ev
    assert events[-2]["type"] == "order_cancelled"


def test_an_account_or_instrument_line_expires_the_orders_due_first() -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + SEC)
    eng.apply({"t": T0 + 2 * SEC, "type": "account", "account": "c"})
    assert events[-1]["type"] == "order_cancelled", "not expired by the account line"
    assert events[-1]["t"] == T0 + 2 * SEC


def test_an_order_placed_by_a_listener_expires_within_a_batch_of_quotes() -> None:
    eng, events = setup()
    place(eng, "first", price="99")

    def strategy(ev: dict[str, Any]) -> None:  # a bot: on its fill, a short-lived order
        if ev["type"] == "opened" and ev["ref"] == "first":
            eng.order("a", "X", "long", "limit", "97", "10", qty="1", ref="E",
                      expires=ev["t"] + 1)  # fmt: skip

    eng.subscribe(strategy)
    sid = eng.symbol_id("X")
    px = 10**8  # price units
    eng.feed_quotes((sid, sid), (T0 + 10, T0 + 20), (98 * px, 96 * px), (99 * px, 97 * px))
    assert [(e["t"] - T0, e["type"], e["ref"]) for e in events[1:]] == [
        (10, "opened", "first"),
        (10, "order_placed", "E"),
        (20, "order_cancelled", "E"),  # due at T0 + 11: expired before the quote at T0 + 20
    ]
    assert eng.position("a", "E") is None, "filled after its expiry"


# --------------------------------------------------------------------- cancel
def test_cancel_and_the_orders_that_cannot_be_cancelled() -> None:
    eng, events = setup()
    place(eng, "o")
    place(eng, "f", price="96")
    place(eng, "theirs", account="b")
    before = state_dict(eng)["accounts"][0]["orders"]
    ev = eng.cancel("a", "o", t=T0)
    assert {k: ev[k] for k in ("type", "account", "ref", "reason")} == {
        "type": "order_cancelled", "account": "a", "ref": "o", "reason": "cancelled",
    }  # fmt: skip
    assert state_dict(eng)["accounts"][0]["orders"] == before[1:]
    eng.quote("X", T0 + 1, "95.50", "96")  # fills f
    for ref in ("o", "f", "nope", "theirs"):  # cancelled, filled, unknown, b's
        before = state_dict(eng)["accounts"]
        ev = eng.cancel("a", ref, t=T0 + 1)
        assert (ev["type"], ev["reason"], ev["ref"]) == ("rejected", "unknown_order", ref)
        assert ref in ev["message"]
        assert state_dict(eng)["accounts"] == before
    assert eng.position("a", "f") is not None and [o["ref"] for o in eng.orders("b")] == ["theirs"]
    assert eng.cancel("ghost", "o", t=T0 + 1)["reason"] == "unknown_order"


def test_a_reset_cancels_the_orders_before_closing_the_positions() -> None:
    eng, events = setup()
    place(eng, "o1")
    eng.open("a", "X", "long", "10", margin="10", ref="p", t=T0)
    place(eng, "o2", side="short", kind="stop", price="90")
    place(eng, "keep", account="b")
    seq = events[-1]["seq"]
    eng.reset("a", t=T0 + 1)
    assert since(events, seq) == [
        ("order_cancelled", "o1", "reset", T0 + 1),
        ("order_cancelled", "o2", "reset", T0 + 1),
        ("closed", "p", "reset", T0 + 1),
        ("reset", None, None, T0 + 1),
    ]
    assert eng.orders("a") == [] and len(eng.orders("b")) == 1
    eng.quote("X", T0 + 2, "80", "81")  # what the cancelled orders would have filled on
    assert eng.positions("a") == []


# --------------------------------------------------------------- modify orders
def test_modify_moves_an_order_to_its_new_price() -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + 60 * SEC, take_profit="99", stop_loss="94")
    ev = eng.modify("a", "o", price="93", stop_loss="92", t=T0)
    assert {k: v for k, v in ev.items() if k not in ("seq", "t")} == {
        "type": "modified", "account": "a", "ref": "o", "price": "93.00",
        "expires": T0 + 60 * SEC, "take_profit": "99.00", "stop_loss": "92.00",
        "trailing_stop": None,
    }  # fmt: skip
    eng.quote("X", T0 + 1, "94", "94.50")  # would have filled the old price, 95
    assert events[-1]["type"] == "modified"
    eng.quote("X", T0 + 2, "92.90", "93")
    opened = events[-1]
    assert (opened["type"], opened["price"]) == ("opened", "93.00")
    assert eng.position("a", "o")["stop_loss"] == "92.00"


@pytest.mark.parametrize(
    ("changes", "reason", "fragment"),
    [
        ({"price": "101"}, "invalid_order", "must be below the ask 101.00"),
        ({"price": "93"}, "invalid_order", "stop_loss 94.00 must be below the order price 93"),
        ({"take_profit": "95"}, "invalid_order", "take_profit 95.00 must be above"),
        ({"stop_loss": "96"}, "invalid_order", "stop_loss 96.00 must be below"),
        ({"price": None}, "invalid_order", "price cannot be removed"),
        ({"price": "95.000000001"}, "invalid_order", "more than 8 decimal places"),
        ({"expires": T0}, "invalid_order", "is not after the time"),
        ({"expires": "soon"}, "invalid_order", "integer microseconds"),
        ({"trailing_stop": "0"}, "invalid_order", "trailing_stop must be positive"),
    ],
)
def test_a_modify_is_checked_as_a_placement_and_changes_nothing_when_refused(
    changes: dict[str, Any], reason: str, fragment: str
) -> None:
    eng, events = setup()
    place(eng, "o", expires=T0 + SEC, stop_loss="94")
    before = state_dict(eng)
    ev = eng.modify("a", "o", t=T0, **changes)
    assert (ev["type"], ev["reason"]) == ("rejected", reason) and fragment in ev["message"], ev
    assert state_dict(eng)["accounts"] == before["accounts"]


def test_modify_an_order_needs_a_fresh_quote_and_an_order_of_ones_own() -> None:
    eng, events = setup()
    place(eng, "o")
    place(eng, "theirs", account="b")
    assert eng.modify("a", "theirs", price="94", t=T0)["reason"] == "unknown_order"
    assert eng.modify("a", "nope", price="94", t=T0)["reason"] == "unknown_order"
    stale = eng.modify("a", "o", price="94", t=T0 + 11 * SEC)
    assert stale["reason"] == "no_price"
    assert [o["price"] for o in eng.orders("a")] == ["95.00"]
    assert [o["price"] for o in eng.orders("b")] == ["95.00"]


def test_modify_expiry_later_and_removed() -> None:
    eng, events = setup()
    place(eng, "later", expires=T0 + 5 * SEC)
    place(eng, "never", expires=T0 + 5 * SEC)
    place(eng, "sooner", expires=T0 + 50 * SEC)
    assert eng.modify("a", "later", expires=T0 + 20 * SEC, t=T0)["expires"] == T0 + 20 * SEC
    assert eng.modify("a", "never", expires=None, t=T0)["expires"] is None
    assert eng.modify("a", "sooner", expires=T0 + 2 * SEC, t=T0)["type"] == "modified"
    seq = events[-1]["seq"]
    eng.quote("X", T0 + 6 * SEC, "100", "101")
    assert since(events, seq) == [("order_cancelled", "sooner", "expired", T0 + 6 * SEC)]
    eng.quote("X", T0 + 20 * SEC, "100", "101")
    assert since(events, seq)[1:] == [("order_cancelled", "later", "expired", T0 + 20 * SEC)]
    eng.quote("X", T0 + 3600 * SEC, "100", "101")
    assert [o["ref"] for o in eng.orders("a")] == ["never"]


def test_modify_an_orders_trailing_stop_and_brackets_passes_them_to_the_position() -> None:
    eng, events = setup()
    place(eng, "o", take_profit="99", trailing_stop="2")
    ev = eng.modify("a", "o", take_profit=None, stop_loss="90", trailing_stop="1.50", t=T0)
    assert (ev["take_profit"], ev["stop_loss"], ev["trailing_stop"]) == (None, "90.00", "1.50")
    assert eng.orders("a")[0]["trailing_stop"] == "1.50"
    eng.quote("X", T0 + 1, "94.90", "95")
    pos = eng.position("a", "o")
    assert pos is not None
    assert (pos["take_profit"], pos["stop_loss"], pos["trailing_stop"]) == (None, "90.00", "1.50")
    assert pos["trailing_level"] == "93.40"  # the bid at the fill, 94.90, minus 1.50


def test_keep_leaves_every_field_as_it_was() -> None:
    eng, _ = setup()
    place(eng, "o", take_profit="99", stop_loss="94", trailing_stop="2", expires=T0 + SEC)
    before = eng.orders("a")
    ev = eng.modify("a", "o", take_profit=KEEP, t=T0)
    assert ev["type"] == "modified" and eng.orders("a") == before
