"""Pending orders, modify, partial close and trailing stops over REST and the WebSocket, on a
real server fed by a fake Backpack; the journal of them replays byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from order_helpers import STEP, Socket, one, pending_ids, place, quote, until, user
from server_helpers import Market, Server, bearer, register, start_server, wait_price


@pytest.fixture()
def sockets() -> Iterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for s in opened:
        s.close()


def test_a_limit_order_waits_then_fills_and_only_its_owner_hears(
    server: Server, market: Market, sockets: list[Socket]
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me, user(server) as other:
        mine, theirs = Socket(server, me), Socket(server, other)
        sockets += [mine, theirs]
        r = place(me, side="long", type="limit", price="59900", margin="100",
                  takeProfit="61000", stopLoss="59000", trailingStop="150")  # fmt: skip
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        oid = r.json()["orderId"]
        assert order["id"] == oid and order["status"] == "pending" and order["type"] == "limit"
        assert Decimal(order["price"]) == 59900 and order["margin"] == "100"
        assert (Decimal(order["takeProfit"]), Decimal(order["stopLoss"])) == (61000, 59000)
        assert Decimal(order["trailingStop"]) == 150 and order["expiresAt"] is None
        assert pending_ids(me) == [oid] and pending_ids(other) == []
        assert me.get(f"/trade/pending/{oid}").json()["order"] == order
        assert me.get("/balance").json()["used_margin"] == "0"  # nothing reserved
        placed = mine.wait(lambda m: m["type"] == "order_placed")
        assert placed["ref"] == oid and placed["kind"] == "limit"

        quote(server, market, "59950", "59950.5")  # not there yet
        assert pending_ids(me) == [oid]
        quote(server, market, "59899", "59899.5")  # the ask reaches 59900: filled at the ask
        opened = mine.wait(lambda m: m["type"] == "opened")
        assert opened["ref"] == oid and opened["order"] == "limit"
        assert opened["price"] == "59899.5"
        assert pending_ids(me) == []
        pos = one(me, oid)
        qty = (Decimal(100) * 10 / Decimal("59899.5")).quantize(STEP, ROUND_FLOOR)
        assert pos["status"] == "open" and Decimal(pos["qty"]) == qty
        assert Decimal(pos["openingPrice"]) == Decimal("59899.5")
        assert (Decimal(pos["takeProfit"]), Decimal(pos["stopLoss"])) == (61000, 59000)
        assert Decimal(pos["trailingStop"]) == 150
        assert Decimal(pos["trailingLevel"]) == Decimal("59899") - 150  # best bid - distance
        listed = me.get("/trade/orders", params={"status": "open"}).json()["orders"]
        assert [o["id"] for o in listed] == [oid] and listed[0]["trailingStop"] is not None
        done = me.post(f"/trade/close/{oid}").json()["order"]  # listed closed, as it filled
        listed_done = one(me, oid)
        for key in ("status", "pnl", "closingPrice", "qty", "fee", "closedAt", "takeProfit"):
            assert listed_done[key] == done[key], key
        assert done["status"] == "closed"
        assert Decimal(done["stopLoss"]) == 59000 and Decimal(done["trailingStop"]) == 150
        closed = me.get("/trade/orders", params={"status": "closed"}).json()["orders"]
        assert [o["id"] for o in closed] == [oid]
        assert not [m for m in theirs.drain() if m.get("type") != "quote"], "not their events"


def test_bad_orders_are_refused_saying_why_and_change_nothing(
    server: Server, market: Market
) -> None:
    quote(server, market, "60000", "60000.5")
    cases = [
        (dict(side="long", type="limit", price="60100", margin="100"), "below the ask"),
        (dict(side="long", type="stop", price="59000", margin="100"), "above the ask"),
        (dict(side="short", type="limit", price="59000", qty="0.01"), "above the bid"),
        (dict(side="long", type="limit", price="59000", margin="100", takeProfit="58000"),
         "take_profit 58000.0 must be above the order price"),
        (dict(side="short", type="stop", price="59000", margin="100", stopLoss="58000"),
         "stop_loss 58000.0 must be above the order price"),
        (dict(side="long", type="limit", price="59000", margin="100", expiresAt=1000),
         "not in the future"),
        (dict(side="long", type="limit", price="59000", margin="100",
              expiresAt="2001-01-01T00:00:00Z"), "not in the future"),
        (dict(side="long", type="limit", price="59000", margin="100", expiresAt="soon"),
         "ISO 8601"),
        (dict(side="long", type="limit", price="59000", margin="100", expiresAt="1e3"),
         "ISO 8601"),
        (dict(side="long", type="limit", margin="100"), "needs a price"),
        (dict(side="long", type="market", price="59000", margin="100"), "for limit and stop"),
        (dict(side="long", type="limit", price="59000", margin="100", trailingStop="0"),
         "must be above 0"),
        (dict(side="long", type="market", margin="100", trailingStop="-5"),
         "must be above 0"),
        (dict(side="long", type="iceberg", price="59000", margin="100"), "type"),
        (dict(side="long", type="limit", price="59000"), "margin or qty"),
    ]  # fmt: skip
    with user(server) as c:
        for body, says in cases:
            r = place(c, **body)
            assert r.status_code == 422, (body, r.text)
            assert says in r.json()["error"], (body, r.json())
            assert set(r.json()) >= {"error", "reason"}
        assert pending_ids(c) == [] and c.get("/trade/orders").json()["orders"] == []
        assert c.get("/balance").json()["balance"] == "5000"


HOSTILE: list[Any] = [
    [], "x", 1, {"price": None}, {"price": "1e400"}, {"price": "NaN"}, {"price": []},
    {"takeProfit": {"a": 1}}, {"stopLoss": "-1"}, {"trailingStop": "0"}, {"expiresAt": True},
    {"expiresAt": -1}, {"expiresAt": "9999-12-31T23:59:59-14:00"}, {"expiresAt": 1e300},
    {"expiresAt": "2030-01-01T00:00:00.1234567"}, {"expiresAt": "x" * 100},
    {"qty": []}, {"qty": "1e-30"}, {"qty": "0"}, {"qty": "٣"}, {"takeProfit": "1" * 40},
]  # fmt: skip


def test_hostile_bodies_on_real_orders_are_4xx_and_change_nothing(
    server: Server, market: Market
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me:
        oid = place(me, side="long", type="limit", price="59000", qty="0.01").json()["orderId"]
        pid = place(me, side="long", qty="0.01").json()["orderId"]
        before = (me.get("/trade/pending").json(), one(me, pid), me.get("/balance").json())
        calls = [("PATCH", f"/trade/orders/{oid}"), ("PATCH", f"/trade/orders/{pid}"),
                 ("POST", "/trade/orders"), ("POST", f"/trade/close/{pid}")]  # fmt: skip
        for body in HOSTILE:
            closes = not isinstance(body, dict) or "qty" in body  # else: a whole close
            for method, path in calls if closes else calls[:3]:
                r = me.request(method, path, json=body)
                assert 400 <= r.status_code < 500, (method, path, body, r.text)
                assert set(r.json()) >= {"error", "reason"}, r.text
        after = (me.get("/trade/pending").json(), one(me, pid), me.get("/balance").json())
        assert after[0] == before[0] and after[2]["balance"] == before[2]["balance"]
        assert after[1]["qty"] == before[1]["qty"] and after[1]["stopLoss"] is None
        assert "Traceback" not in server.output()


def test_cancel_and_the_same_404_for_unknown_filled_cancelled_and_others(
    server: Server, market: Market, sockets: list[Socket]
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me, user(server) as other:
        mine = Socket(server, me)
        sockets.append(mine)
        a = place(me, side="short", type="limit", price="60500", qty="0.01").json()["orderId"]
        b = place(me, side="short", type="stop", price="59500", qty="0.01").json()["orderId"]
        gone = me.delete(f"/trade/pending/{a}")
        assert gone.status_code == 200, gone.text
        assert gone.json()["order"]["status"] == "cancelled"
        assert gone.json()["order"]["cancelReason"] == "cancelled"
        assert gone.json()["order"]["cancelledAt"] is not None
        ev = mine.wait(lambda m: m["type"] == "order_cancelled")
        assert (ev["ref"], ev["reason"]) == (a, "cancelled")
        assert pending_ids(me) == [b]

        def refused(r: httpx.Response, oid: str) -> dict[str, Any]:
            assert r.status_code == 404, r.text
            return {**r.json(), "error": r.json()["error"].replace(oid, "ID")}

        unknown = refused(me.delete("/trade/pending/nope"), "nope")
        assert unknown["reason"] == "unknown_order"
        assert refused(me.delete(f"/trade/pending/{a}"), a) == unknown  # cancelled already
        assert refused(other.delete(f"/trade/pending/{b}"), b) == unknown  # someone else's
        assert refused(other.post(f"/trade/pending/{b}/cancel"), b) == unknown
        assert refused(other.get(f"/trade/pending/{b}"), b) == unknown
        assert refused(other.patch(f"/trade/orders/{b}", json={"price": "59400"}), b)[
            "reason"] == "unknown_order"  # fmt: skip
        assert pending_ids(me) == [b], "another user's cancel changed nothing"
        quote(server, market, "59499", "59499.5")  # the short stop fills at the bid
        mine.wait(lambda m: m["type"] == "opened" and m["ref"] == b)
        assert refused(me.post(f"/trade/pending/{b}/cancel"), b) == unknown  # filled
        assert one(me, b)["status"] == "open"


def test_modify_a_pending_order_and_a_position_then_the_new_stop_triggers(
    server: Server, market: Market, sockets: list[Socket]
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me:
        mine = Socket(server, me)
        sockets.append(mine)
        oid = place(me, side="long", type="limit", price="59000", margin="50",
                    takeProfit="62000").json()["orderId"]  # fmt: skip
        later = int(time.time()) + 3600
        r = me.patch(f"/trade/orders/{oid}",
                     json={"price": "59100", "takeProfit": None, "expiresAt": later})  # fmt: skip
        assert r.status_code == 200, r.text
        got = r.json()["order"]
        assert Decimal(got["price"]) == 59100 and got["takeProfit"] is None
        assert got["expiresAt"].startswith(time.strftime("%Y-%m-%dT%H", time.gmtime(later)))
        assert me.get(f"/trade/pending/{oid}").json()["order"] == got
        bad = me.post(f"/trade/modify/{oid}", json={"price": "60100"})  # above the ask
        assert bad.status_code == 422 and "below the ask" in bad.json()["error"]
        assert me.patch(f"/trade/orders/{oid}", json={}).status_code == 422  # nothing given
        assert me.get(f"/trade/pending/{oid}").json()["order"] == got, "refusals change nothing"
        me.delete(f"/trade/pending/{oid}")

        pid = place(me, side="long", type="market", margin="100").json()["orderId"]
        r = me.post(f"/trade/modify/{pid}", json={"stopLoss": "59800", "takeProfit": "61000"})
        assert r.status_code == 200, r.text
        assert (Decimal(r.json()["order"]["stopLoss"]), r.json()["order"]["status"]) == (
            59800, "open")  # fmt: skip
        ev = mine.wait(lambda m: m["type"] == "modified" and m["ref"] == pid)
        assert Decimal(ev["stop_loss"]) == 59800
        wrong = me.patch(f"/trade/orders/{pid}", json={"stopLoss": "60100"})
        assert wrong.status_code == 422 and "must be below the bid" in wrong.json()["error"]
        price = me.patch(f"/trade/orders/{pid}", json={"price": "1"})
        assert price.status_code == 422 and "open position" in price.json()["error"]
        r = me.patch(f"/trade/orders/{pid}", json={"takeProfit": None})
        assert r.json()["order"]["takeProfit"] is None
        assert Decimal(r.json()["order"]["stopLoss"]) == 59800  # kept: not in the body
        quote(server, market, "59790", "59790.5")
        closed = mine.wait(lambda m: m["type"] == "closed" and m["ref"] == pid)
        assert closed["reason"] == "stop_loss" and closed["price"] == "59790.0"
        done = one(me, pid)
        assert done["closeReason"] == "stop_loss" and Decimal(done["stopLoss"]) == 59800
        assert done["takeProfit"] is None  # the last ones set
        assert me.patch(f"/trade/orders/{pid}", json={"stopLoss": "1"}).status_code == 404


def test_partial_close_figures_and_the_closed_order_sums_its_parts(
    server: Server, market: Market, sockets: list[Socket]
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me, user(server) as other:
        mine = Socket(server, me)
        sockets.append(mine)
        pid = me.post("/trade/create", json={"asset": "BTC", "side": "long", "qty": "0.1",
                                             "leverage": "5"}).json()["orderId"]  # fmt: skip
        margin = Decimal(one(me, pid)["margin"])
        for qty, says in (("0", "positive"), ("-0.01", "positive"), ("abc", "decimal number"),
                          ("0.000000001", "8 decimal places"), ("0.2", "more than")):  # fmt: skip
            r = me.post(f"/trade/close/{pid}", json={"qty": qty})
            assert r.status_code == 422 and says in r.json()["error"], (qty, r.text)
        assert other.post(f"/trade/close/{pid}", json={"qty": "0.01"}).status_code == 404
        assert Decimal(one(me, pid)["qty"]) == Decimal("0.1"), "refusals change nothing"

        quote(server, market, "61000.3", "61000.8")
        r = me.post(f"/trade/close/{pid}", json={"qty": "0.04", "pnl": "1000000"})
        assert r.status_code == 200, r.text
        part, after = r.json()["reduced"], r.json()["order"]
        first = Decimal("0.04") * (Decimal("61000.3") - Decimal("60000.5"))  # at the bid
        assert Decimal(part["pnl"]) == first == Decimal("39.992")
        assert (Decimal(part["qty"]), Decimal(part["remainingQty"])) == (
            Decimal("0.04"), Decimal("0.06"))  # fmt: skip
        assert Decimal(part["price"]) == Decimal("61000.3")
        assert after["status"] == "open" and Decimal(after["qty"]) == Decimal("0.06")
        assert Decimal(after["margin"]) == margin - margin * 4 / 10
        reduced = mine.wait(lambda m: m["type"] == "reduced")
        assert reduced["ref"] == pid and reduced["remaining_qty"] == "0.06"
        assert Decimal(me.get("/balance").json()["balance"]) == 5000 + first - Decimal(
            part["fee"])  # fmt: skip

        quote(server, market, "59000.1", "59000.6")
        done = me.post(f"/trade/close/{pid}")  # no body: the rest
        assert done.status_code == 200, done.text
        closed = done.json()["order"]
        second = Decimal("0.06") * (Decimal("59000.1") - Decimal("60000.5"))
        assert closed["status"] == "closed" and Decimal(closed["qty"]) == Decimal("0.1")
        assert Decimal(closed["pnl"]) == first + second
        assert Decimal(closed["margin"]) == margin
        assert Decimal(closed["closingPrice"]) == Decimal("59000.1")
        assert [Decimal(p["pnl"]) for p in closed["reductions"]] == [first]
        assert one(me, pid) == closed  # the close answers what the listing shows
        balance = Decimal(me.get("/balance").json()["balance"])
        assert balance == 5000 + Decimal(closed["pnl"]) - Decimal(closed["fee"])


def test_a_whole_qty_closes_it_and_a_body_without_qty_closes_all(
    server: Server, market: Market
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me:
        a = place(me, side="short", qty="0.02").json()["orderId"]
        r = me.post(f"/trade/close/{a}", json={"qty": "0.02"})
        assert r.status_code == 200 and r.json()["order"]["status"] == "closed", r.text
        assert "reduced" not in r.json() or r.json()["reduced"] is None
        b = place(me, side="short", qty="0.02").json()["orderId"]
        r = me.post(f"/trade/close/{b}", json={"pnl": "123"})  # the seed's client sends this
        assert r.status_code == 200 and Decimal(r.json()["order"]["pnl"]) == Decimal("-0.01")


def test_a_trailing_stop_follows_the_market_and_closes(
    server: Server, market: Market, sockets: list[Socket]
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me:
        mine = Socket(server, me)
        sockets.append(mine)
        r = place(me, side="long", type="market", qty="0.01", trailingStop="100")
        assert r.status_code == 201 and r.json()["order"]["status"] == "open", r.text
        pid = r.json()["orderId"]
        assert Decimal(r.json()["order"]["trailingLevel"]) == 59900
        quote(server, market, "60200", "60200.5")
        assert Decimal(one(me, pid)["trailingLevel"]) == 60100
        quote(server, market, "60150", "60150.5")
        assert Decimal(one(me, pid)["trailingLevel"]) == 60100  # only in the trader's favour
        quote(server, market, "60090", "60090.5")
        closed = mine.wait(lambda m: m["type"] == "closed" and m["ref"] == pid)
        assert closed["reason"] == "trailing_stop" and Decimal(closed["price"]) == 60090
        done = one(me, pid)
        assert done["closeReason"] == "trailing_stop" and Decimal(done["trailingStop"]) == 100


def test_an_order_expires_at_its_time(
    server: Server, market: Market, sockets: list[Socket]
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me:
        mine = Socket(server, me)
        sockets.append(mine)
        at = f"{time.time() + 0.5:.6f}"  # epoch seconds, to the microsecond
        r = place(me, side="long", type="stop", price="61000", margin="10", expiresAt=at)
        assert r.status_code == 201, r.text
        oid = r.json()["orderId"]
        expected = int(Decimal(at) * 1_000_000)
        sec, us = divmod(expected, 1_000_000)
        assert r.json()["order"]["expiresAt"].endswith(f".{us:06d}Z")
        time.sleep(0.6)
        quote(server, market, "60001", "60001.5")  # the first input after its time
        ev = mine.wait(lambda m: m["type"] == "order_cancelled" and m["ref"] == oid)
        assert ev["reason"] == "expired" and ev["t"] >= expected
        assert pending_ids(me) == []


def test_the_journal_replays_the_new_records_byte_for_byte_and_a_restart_keeps_them(
    tmp_path: Path, market: Market
) -> None:
    data = tmp_path / "data"
    srv = start_server(data, feed="backpack", backpack_url=market.url)
    try:
        with srv.client() as c:
            market.set("BTC_USDC", "60000", "60000.5")
            wait_price(c, "BTC_USDC", "60000")
        before = _trade_everything(srv, market)
    finally:
        assert srv.stop() == 0, srv.output()
    cmd = [sys.executable, "-m", "workbench.cli", "simulate", str(data / "journal")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(data / "accounts.duckdb"), read_only=True)
    stored = [r[0] for r in con.execute("SELECT body FROM events ORDER BY seq").fetchall()]
    con.close()
    kinds = {json.loads(x)["type"] for x in stored}
    assert {"order_placed", "order_cancelled", "modified", "reduced", "opened"} <= kinds
    printed = res.stdout.splitlines()
    assert printed[: len(stored)] == stored

    srv = start_server(data, feed="backpack", backpack_url=market.url)
    try:
        with srv.client() as c:  # live at once: no simulated prices to trigger anything
            market.set("BTC_USDC", "60100", "60100.5")
            wait_price(c, "BTC_USDC", "60100")
        assert _state(srv, before["token"]) == before["state"]
    finally:
        assert srv.stop() == 0, srv.output()


def _trade_everything(srv: Server, market: Market) -> dict[str, Any]:
    """Every new kind of record: order, modify, cancel, a fill, a partial close."""
    with srv.client() as c:
        token = register(c, "replay@example.com")
    with srv.client(headers=bearer(token)) as me:
        keep = place(me, side="long", type="limit", price="59000", margin="100",
                     stopLoss="58000").json()["orderId"]  # fmt: skip
        assert me.patch(f"/trade/orders/{keep}", json={"stopLoss": None}).status_code == 200
        fill = place(me, side="short", type="limit", price="60100", qty="0.05",
                     trailingStop="200").json()["orderId"]  # fmt: skip
        drop = place(me, side="long", type="stop", price="61000", qty="0.01").json()["orderId"]
        assert me.delete(f"/trade/pending/{drop}").status_code == 200
        market.set("BTC_USDC", "60100", "60100.5")
        until(lambda: one(me, fill)["status"] == "open", "the short limit never filled")
        r = me.post(f"/trade/close/{fill}", json={"qty": "0.02"})
        assert r.status_code == 200 and r.json()["reduced"] is not None, r.text
        assert me.patch(f"/trade/orders/{fill}", json={"takeProfit": "59000"}).status_code == 200
        return {"token": token, "state": _state(srv, token)}


def _state(srv: Server, token: str) -> dict[str, Any]:
    with srv.client(headers=bearer(token)) as me:
        orders = me.get("/trade/orders").json()["orders"]
        for o in orders:  # live figures move with the market, the rest must not
            del o["upnl"], o["trailingLevel"]
        return {"pending": me.get("/trade/pending").json(), "orders": orders,
                "balance": me.get("/balance").json()["balance"]}  # fmt: skip
