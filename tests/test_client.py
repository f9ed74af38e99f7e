"""`workbench.client.Client` against one real `workbench serve` fed by a fake Backpack."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import polars as pl
import pytest
from server_helpers import Market, Server, free_port

from workbench.client import ApiError, Client

PASSWORD = "correct horse 1"
STEP = Decimal("0.00000001")
_emails = itertools.count()


def quote(srv: Server, market: Market, bid: str, ask: str, timeout: float = 20.0) -> None:
    """Publish a quote and wait until the server's engine has it."""
    t = market.set("BTC_USDC", bid, ask)
    deadline = time.monotonic() + timeout
    with srv.client() as c:
        while time.monotonic() < deadline:
            p = next(p for p in c.get("/prices").json()["prices"] if p["symbol"] == "BTC_USDC")
            if p["t"] is not None and p["t"] >= t:
                return
            time.sleep(0.02)
    raise AssertionError(f"the server never got the quote {bid}/{ask}")


def user(server: Server, **kw: str) -> Client:
    """A client logged in as a new user."""
    c = Client(server.url)
    c.register(f"user{next(_emails)}@example.com", PASSWORD, **kw)
    return c


def test_register_login_me_logout(server: Server) -> None:
    with Client(server.url) as c:
        u = c.register("ada@example.com", PASSWORD, name="Ada")
        assert u["email"] == "ada@example.com" and u["name"] == "Ada"
        assert c.me() == {**u, "margin_mode": "isolated"}
        with Client(server.url) as other:
            with pytest.raises(ApiError) as wrong:
                other.login("ada@example.com", "not the password")
            assert (wrong.value.status, wrong.value.reason) == (401, "invalid_credentials")
            assert other.login("ada@example.com", PASSWORD)["id"] == u["id"]
            old = other.token
            other.logout()
            with pytest.raises(ApiError) as after:
                other.me()
            assert after.value.status == 401 and after.value.reason == "unauthorized"
        with Client(server.url, token=old) as revoked, pytest.raises(ApiError) as e:
            revoked.me()
        assert e.value.status == 401
        assert c.me()["id"] == u["id"]  # the other session's logout revoked only its token


def test_open_by_margin_and_by_qty_is_exact(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        long = c.open("BTC_USDC", "long", 10, margin="100")
        # a long opens at the ask: qty = floor_1e-8(100 * 10 / 60000.5)
        expected = (Decimal(100) * 10 / Decimal("60000.5")).quantize(STEP, ROUND_FLOOR)
        assert expected == Decimal("0.01666652")
        assert long["qty"] == expected and long["margin"] == Decimal(100)
        assert long["openingPrice"] == Decimal("60000.5") and long["status"] == "open"
        assert long["openedAt"].tzinfo is not None
        short = c.open("BTC", "short", Decimal("3"), qty="0.02", take_profit=50000,
                       stop_loss=Decimal("70000"))  # fmt: skip
        # a short opens at the bid: margin = ceil_1e-8(0.02 * 60000 / 3) = 400
        assert short["margin"] == (Decimal("0.02") * 60000 / 3).quantize(STEP, ROUND_CEILING)
        assert short["margin"] == Decimal(400) and short["openingPrice"] == Decimal(60000)
        assert (short["takeProfit"], short["stopLoss"]) == (Decimal(50000), Decimal(70000))
        assert c.order(short["id"])["qty"] == Decimal("0.02")
        assert c.balance()["used_margin"] == Decimal(500)


def test_orders_and_positions_are_decimal_dataframes(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        a = c.open("BTC_USDC", "long", 2, qty="0.001")
        b = c.open("BTC_USDC", "short", 2, qty="0.003")
        c.close(a["id"])
        pos = c.positions()
        assert pos["id"].to_list() == [b["id"]]
        for col in ("qty", "margin", "openingPrice", "upnl", "liquidationPrice", "fee"):
            assert isinstance(pos.schema[col], pl.Decimal), col
        assert pos.schema["openedAt"] == pl.Datetime("us", "UTC")
        assert pos["qty"].to_list() == [Decimal("0.003")]
        every = c.orders()
        assert set(every["id"]) == {a["id"], b["id"]}
        closed = c.orders("closed")
        assert closed["id"].to_list() == [a["id"]] and closed["status"].to_list() == ["closed"]
        assert closed.schema["closedAt"] == pl.Datetime("us", "UTC")
        pdf = every.to_pandas()
        assert str(pdf["openedAt"].dtype) == "datetime64[us, UTC]"
        assert isinstance(pdf["margin"].iloc[0], Decimal)
        assert sorted(pdf["qty"]) == [Decimal("0.001"), Decimal("0.003")]
    with user(server) as newcomer:  # no orders: the same columns and dtypes, no rows
        none = newcomer.orders()
    assert none.is_empty() and none.schema == pos.schema


def test_close_pnl_is_exact_at_a_moved_price(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        o = c.open("BTC_USDC", "long", 5, qty="0.1")
        quote(server, market, "61000.3", "61000.8")
        done = c.close(o["id"])
        # a long closes at the bid: 0.1 * (61000.3 - 60000.5)
        assert done["pnl"] == Decimal("0.1") * (Decimal("61000.3") - Decimal("60000.5"))
        assert done["pnl"] == Decimal("99.98") and done["closingPrice"] == Decimal("61000.3")
        assert (done["status"], done["closeReason"]) == ("closed", "manual")
        assert c.order(o["id"])["pnl"] == Decimal("99.98")
        assert c.orders("closed")["pnl"].to_list() == [Decimal("99.98")]
        assert c.balance()["balance"] == Decimal("5099.98")
        with pytest.raises(ApiError) as again:
            c.close(o["id"])
        assert again.value.status == 404 and again.value.reason == "unknown_position"


def test_a_rejection_raises_api_error_with_the_server_message(
    server: Server, market: Market
) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        with pytest.raises(ApiError) as e:
            c.open("BTC_USDC", "long", 10, margin="100000")
        assert (e.value.status, e.value.reason) == (400, "insufficient_margin")
        assert str(e.value).startswith("insufficient_margin: free margin 5000.00 USD is less")
        assert c.positions().is_empty()
        with pytest.raises(ApiError) as unknown:
            c.order("no-such-order")
        assert unknown.value.status == 404


def test_floats_are_refused_before_anything_is_sent(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        with pytest.raises(TypeError, match="float"):
            c.open("BTC_USDC", "long", 10, margin=100.0)
        with pytest.raises(TypeError, match="leverage"):
            c.open("BTC_USDC", "long", 10.0, margin="100")
        with pytest.raises(TypeError, match="take_profit"):
            c.open("BTC_USDC", "long", 10, margin="100", take_profit=70000.5)
        with pytest.raises(TypeError, match="amount"):
            c.deposit(1.5)
        assert c.orders().is_empty() and c.balance()["balance"] == Decimal(5000)


def test_balance_deposit_and_reset_to_cross(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        b = c.balance()
        assert b["balance"] == Decimal(5000) and b["free_margin"] == Decimal(5000)
        assert all(type(b[k]) is Decimal for k in ("balance", "equity", "used_margin"))
        assert b["margin_level"] is None and b["margin_mode"] == "isolated"
        assert c.deposit("250.55")["balance"] == Decimal("5250.55")
        assert c.deposit(Decimal("0.45"))["balance"] == Decimal("5251")
        assert c.deposit(Decimal("1E+1"))["balance"] == Decimal("5261")  # sent as "10"
        c.open("BTC_USDC", "long", 10, margin=1000)
        b = c.balance()
        assert b["used_margin"] == Decimal(1000) and b["open_positions"] == 1
        assert type(b["margin_level"]) is Decimal
        r = c.reset("cross")
        assert (r["balance"], r["margin_mode"], r["open_positions"]) == (Decimal(5000), "cross", 0)
        assert c.me()["margin_mode"] == "cross"
        assert c.reset()["margin_mode"] == "cross"  # no mode given: kept


def test_prices_candles_and_health(server: Server, market: Market) -> None:
    quote(server, market, "60001.1", "60001.6")
    with Client(server.url) as c:
        p = c.prices()
        assert isinstance(p.schema["bid"], pl.Decimal) and p.schema["t"] == pl.Datetime("us", "UTC")
        btc = p.filter(pl.col("symbol") == "BTC_USDC").row(0, named=True)
        assert (btc["bid"], btc["ask"]) == (Decimal("60001.1"), Decimal("60001.6"))
        assert abs((datetime.now(UTC) - btc["t"]).total_seconds()) < 60
        columns = ["bucket", "symbol", "open", "high", "low", "close", "volume", "trades",
                   "quotes", "partial"]  # fmt: skip
        old = c.candles("BTC", "1m", start="2001-01-01T00:00:00Z", end=datetime(2001, 1, 2))
        assert old.columns == columns and old.is_empty()
        assert isinstance(old.schema["close"], pl.Decimal)
        assert old.schema["bucket"] == pl.Datetime("us", "UTC")
        recent = c.candles("BTC_USDC", "1s", start=int(time.time()) - 3600)
        assert recent.columns == columns
        if not recent.is_empty():  # the recorder may not have committed our quotes yet
            assert set(recent["symbol"]) == {"BTC_USDC"}
            assert recent["bucket"].is_sorted()
        with pytest.raises(ApiError) as bad:
            c.candles("BTC", "1m", start=2000, end=1000)
        assert bad.value.status == 422 and "endTime" in bad.value.message
        h = c.health()
        assert h["feed"]["state"] == "LIVE" and h["status"] == "ok"


def test_the_stream_yields_quotes_and_only_our_own_events(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me, user(server) as someone:
        my_id = me.me()["id"]
        with me.stream(["BTC"], timeout=20) as s:
            assert s.symbols == ["BTC_USDC"] and s.welcome["user"] == my_id
            theirs = someone.open("BTC_USDC", "long", 2, qty="0.001")  # before ours
            mine = me.open("BTC_USDC", "short", 2, qty="0.002")
            market.set("BTC_USDC", "60002.5", "60003")
            seen: list[dict] = []
            for msg in s:
                seen.append(msg)
                got_quote = any(
                    m.get("type") == "quote" and Decimal(m["bid"]) == Decimal("60002.5")
                    for m in seen
                )
                got_opened = any(m.get("type") == "opened" and m.get("ref") == mine["id"]
                                 for m in seen)  # fmt: skip
                if got_quote and got_opened:
                    break
        opened = next(m for m in seen if m.get("type") == "opened")
        assert opened["account"] == my_id and opened["qty"] == "0.002"
        assert all(m.get("ref") != theirs["id"] for m in seen)
        assert all(m.get("account") in (None, my_id) for m in seen)


def test_a_public_stream_has_quotes_and_no_events(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as me, me.stream(["BTC_USDC"], events=False, timeout=20) as s:
        assert s.welcome["user"] is None
        me.open("BTC_USDC", "long", 2, qty="0.001")
        market.set("BTC_USDC", "60004", "60004.5")
        for msg in s:
            assert msg["type"] == "quote", msg
            if Decimal(msg["bid"]) == 60004:
                break


def test_errors_are_clear(server: Server) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url) as c, pytest.raises(ConnectionError, match="make run") as e:
        c.health()
    assert url in str(e.value)
    with Client(server.url, token="not-a-token") as c:
        with pytest.raises(ApiError) as e2:
            c.balance()
        assert e2.value.status == 401
        with pytest.raises(ApiError, match="token") as e3:
            c.stream()
        assert e3.value.status == 401
    with Client(server.url) as c, pytest.raises(ValueError, match="unknown instrument"):
        c.stream(["DOGE_USDC"])


def test_pending_orders_place_modify_cancel_and_fill(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        with pytest.raises(TypeError, match="price"):
            c.place_order("BTC", "long", "limit", price=59000.5, leverage=10, margin=100)
        a = c.place_order("BTC", "long", "limit", price="59000.5", leverage=10, margin=100,
                          take_profit="61000", stop_loss=58000,
                          expires=datetime(2100, 1, 2, 3, 4, 5))  # fmt: skip
        assert a["status"] == "pending" and a["price"] == Decimal("59000.5")
        assert a["expiresAt"] == datetime(2100, 1, 2, 3, 4, 5, tzinfo=UTC)
        b = c.place_order("BTC_USDC", "short", "stop", "59500", leverage=5, qty="0.01")
        table = c.pending()
        assert table["id"].to_list() == [a["id"], b["id"]]
        for col in ("price", "qty", "margin", "takeProfit", "trailingStop"):
            assert isinstance(table.schema[col], pl.Decimal), col
        assert table.schema["createdAt"] == pl.Datetime("us", "UTC")
        assert table["margin"].to_list() == [Decimal(100), None]
        changed = c.modify(a["id"], take_profit=None, price="59100", expires=None)
        assert changed["takeProfit"] is None and changed["price"] == Decimal(59100)
        assert changed["stopLoss"] == Decimal(58000), "not given: unchanged"
        assert changed["expiresAt"] is None
        gone = c.cancel(a["id"])
        assert (gone["status"], gone["cancelReason"]) == ("cancelled", "cancelled")
        with pytest.raises(ApiError) as again:
            c.cancel(a["id"])
        assert (again.value.status, again.value.reason) == (404, "unknown_order")
        quote(server, market, "59499.9", "59500.4")  # the short stop fills at the bid
        assert c.pending().is_empty()
        filled = c.order(b["id"])
        assert filled["status"] == "open" and filled["openingPrice"] == Decimal("59499.9")


def test_partial_close_and_a_trailing_stop_with_the_client(server: Server, market: Market) -> None:
    quote(server, market, "60000", "60000.5")
    with user(server) as c:
        o = c.open("BTC_USDC", "long", 5, qty="0.1", trailing_stop="250")
        assert o["trailingStop"] == Decimal(250) and o["trailingLevel"] == Decimal(59750)
        moved = c.modify(o["id"], trailing_stop="300")
        assert moved["trailingLevel"] == Decimal(59700)
        quote(server, market, "60100", "60100.5")
        part = c.close(o["id"], qty="0.025")
        assert part["status"] == "open" and part["qty"] == Decimal("0.075")
        assert part["reduced"]["pnl"] == Decimal("0.025") * (Decimal(60100) - Decimal("60000.5"))
        assert part["reduced"]["remainingQty"] == Decimal("0.075")
        with pytest.raises(ApiError) as bad:
            c.close(o["id"], qty="1")
        assert bad.value.status == 422 and "more than" in bad.value.message
        done = c.close(o["id"])
        assert done["qty"] == Decimal("0.1") and done["closingPrice"] == Decimal(60100)
        assert done["pnl"] == Decimal("0.1") * (Decimal(60100) - Decimal("60000.5"))
        assert [r["qty"] for r in done["reductions"]] == [Decimal("0.025")]
        assert c.orders("closed")["pnl"].to_list() == [done["pnl"]]
