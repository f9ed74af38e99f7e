"""The REST API over HTTP against a real `workbench serve` on 127.0.0.1, fed by a fake
Backpack at known prices: the first seed's flow, the figures, bad input, concurrency."""

from __future__ import annotations

import concurrent.futures
from decimal import Decimal
from pathlib import Path

import httpx
from server_helpers import Market, Server, bearer, register, running_server, wait_price


def test_first_seed_web_client_flow(server: Server, market: Market) -> None:
    """register -> cookie -> /trade/open with status -> orders -> close with a pnl -> balance."""
    with server.client() as c:
        r = c.post("/auth/register", json={"name": "Ann", "email": "Ann@Example.com",
                                           "password": "hunter22hunter"})  # fmt: skip
        assert r.status_code == 201
        body = r.json()
        assert body["user"]["email"] == "ann@example.com" and body["token"]
        assert "token" in c.cookies  # the web client relies on the HttpOnly cookie
        assert "httponly" in r.headers["set-cookie"].lower()
        r = c.post("/trade/open", json={"asset": "BTC", "side": "long", "qty": 0.01,
                                        "leverage": 10, "status": "open"})  # fmt: skip
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        assert order["openingPrice"] == "60000.5" and order["qty"] == "0.01"
        assert order["margin"] == "60.0005"  # 0.01 * 60000.5 / 10, exact
        assert order["status"] == "open" and order["asset"] == "BTC_USDC"
        oid = r.json()["orderId"]
        orders = c.get("/trade/orders").json()["orders"]
        assert [o["id"] for o in orders] == [oid]
        assert orders[0]["upnl"] == "-0.005"  # valued at the bid
        market.set("BTC_USDC", "60100", "60100.5")
        wait_price(c, "BTC_USDC", "60100")
        r = c.post(f"/trade/close/{oid}", json={"pnl": 1_000_000, "closeReason": "take_profit"})
        assert r.status_code == 200, r.text
        closed = r.json()["order"]
        assert closed["pnl"] == "0.995" and closed["closeReason"] == "manual"  # body ignored
        assert closed["closingPrice"] == "60100.0"  # padded to the 0.1 tick
        bal = c.get("/balance").json()
        assert bal["balance"] == "5000.995" and bal["balances"][0] == {
            "symbol": "USD", "balance": 500100, "decimals": 2}  # fmt: skip
        assert bal["margin_mode"] == "isolated" and bal["margin_level"] is None
        assert c.get("/trade/orders", params={"status": "open"}).json()["orders"] == []
        hist = c.get("/trade/orders", params={"status": "closed"}).json()["orders"]
        assert [o["id"] for o in hist] == [oid] and hist[0]["pnl"] == "0.995"
        assert c.get(f"/trade/orders/{oid}").json()["order"]["status"] == "closed"
        assert c.get("/balance/USD").json() == {"symbol": "USD", "balance": 500100, "decimals": 2}


def test_margin_orders_tp_sl_and_engine_reasons(server: Server, market: Market) -> None:
    with server.client() as c:
        market.set("SOL_USDC", "150", "150.02")
        wait_price(c, "SOL_USDC", "150")
        register(c, "bo@example.com")
        r = c.post("/trade/create", json={"asset": "SOL_USDC", "side": "short", "margin": "100",
                                          "leverage": "20", "takeProfit": "140",
                                          "stopLoss": "160"})  # fmt: skip
        assert r.status_code == 201, r.text
        o = r.json()["order"]
        # qty = floor_1e-8(100 * 20 / 150) opened at the bid for a short
        assert o["qty"] == "13.33333333" and o["openingPrice"] == "150.00"  # to the tick
        assert o["takeProfit"] == "140.00" and o["stopLoss"] == "160.00"
        cases = [
            ({"asset": "SOL", "side": "long", "margin": "999999", "leverage": "2"}, 400,
             "insufficient_margin"),
            ({"asset": "SOL", "side": "long", "margin": "10", "leverage": "1000"}, 422,
             "invalid_order"),
            ({"asset": "SOL", "side": "long", "margin": "10", "qty": "1", "leverage": "2"}, 422,
             "invalid_order"),
            ({"asset": "SOL", "side": "long", "margin": "10", "leverage": "2",
              "stopLoss": "151"}, 422, "invalid_order"),
            ({"asset": "ETH", "side": "long", "margin": "10", "leverage": "2"}, 409, "no_price"),
            ({"asset": "DOGE", "side": "long", "margin": "10", "leverage": "2"}, 422,
             "invalid_order"),
        ]  # fmt: skip
        for body, status, reason in cases:
            r = c.post("/trade/create", json=body)
            assert (r.status_code, r.json()["reason"]) == (status, reason), (body, r.text)
            assert r.json()["error"]  # a readable message
        assert len(c.get("/trade/orders").json()["orders"]) == 1  # nothing else changed
        market.set("SOL_USDC", "139.9", "139.95")  # ask <= 140: the take profit fills
        wait_price(c, "SOL_USDC", "139.9")
        o2 = c.get(f"/trade/orders/{o['id']}").json()["order"]
        assert o2["status"] == "closed" and o2["closeReason"] == "take_profit"
        assert o2["closingPrice"] == "139.95" and o2["takeProfit"] == "140.00"


def test_deposit_reset_and_margin_mode(server: Server) -> None:
    with server.client() as c:
        register(c, "cy@example.com", margin_mode="cross")
        assert c.get("/auth/me").json()["margin_mode"] == "cross"
        r = c.post("/balance/deposit", json={"symbol": "USD", "amount": "250.25"})
        assert r.status_code == 200 and r.json()["balance"] == "5250.25"
        for amount in ("0", "-5", "1e12", "100000000"):
            r = c.post("/balance/deposit", json={"amount": amount})
            assert r.status_code == 422, (amount, r.text)
        assert c.get("/balance").json()["balance"] == "5250.25"
        c.post("/trade/create", json={"asset": "BTC", "side": "short", "qty": "0.01",
                                      "leverage": "5"})  # fmt: skip
        r = c.post("/balance/reset", json={"margin_mode": "isolated"})
        assert r.status_code == 200, r.text
        assert r.json()["balance"] == "5000" and r.json()["margin_mode"] == "isolated"
        assert r.json()["open_positions"] == 0
        closed = c.get("/trade/orders", params={"status": "closed"}).json()["orders"]
        assert [o["closeReason"] for o in closed] == ["reset"]
        assert c.post("/balance/reset").json()["margin_mode"] == "isolated"  # body optional


def test_auth_attacks_are_refused(server: Server) -> None:
    import base64
    import json

    import jwt

    with server.client() as c:
        token = register(c, "dee@example.com")
        c.cookies.clear()
        body = {"asset": "BTC", "side": "long", "qty": "0.001", "leverage": "2"}
        oid = c.post("/trade/create", headers=bearer(token), json=body).json()["orderId"]
        claims = jwt.decode(token, options={"verify_signature": False})

        def b64(obj: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        forged = {
            "none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
            "foreign key": jwt.encode(claims, "x" * 64, algorithm="HS256"),
            "HS512": jwt.encode(claims, "x" * 64, algorithm="HS512"),
            "expired": jwt.encode({**claims, "exp": 1}, "x" * 64, algorithm="HS256"),
            "garbage": "a.b.c",
        }
        for name, bad in forged.items():
            r = c.get("/balance", headers=bearer(bad))
            assert r.status_code == 401, name
            assert r.json()["reason"] == "unauthorized", name
        assert c.get("/balance").status_code == 401  # no token at all
        # another user's order: 404 exactly like an unknown one
        other = register(httpx.Client(base_url=server.url), "eve@example.com")
        for path in (f"/trade/orders/{oid}", "/trade/orders/no-such-order"):
            r = c.get(path, headers=bearer(other))
            assert r.status_code == 404 and r.json()["reason"] == "unknown_order"
        r1 = c.post(f"/trade/close/{oid}", headers=bearer(other))
        r2 = c.post("/trade/close/no-such-order", headers=bearer(other))
        assert r1.status_code == r2.status_code == 404
        assert r1.json()["reason"] == r2.json()["reason"]
        assert c.get(f"/trade/orders/{oid}", headers=bearer(token)).json()["order"]["status"] == (
            "open")  # fmt: skip
        # logout revokes the token
        assert c.post("/auth/logout", headers=bearer(token)).status_code == 200
        r = c.get("/balance", headers=bearer(token))
        assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_login_is_rate_limited_and_says_nothing_of_emails(server: Server) -> None:
    with server.client() as c:
        register(c, "fay@example.com", password="right password")
        wrong = c.post("/auth/login", json={"email": "fay@example.com", "password": "nope"})
        unknown = c.post("/auth/login", json={"email": "nobody@example.com", "password": "nope"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        codes = [c.post("/auth/login", json={"email": "fay@example.com", "password": "nope"})
                 .status_code for _ in range(6)]  # fmt: skip
        assert codes[-1] == 429
        r = c.post("/auth/login", json={"email": "fay@example.com", "password": "right password"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0  # no oracle
        again = {"name": "x", "email": "FAY@example.com", "password": "whatever123"}
        assert c.post("/auth/register", json=again).status_code == 409


BAD_BODIES = [
    ({"asset": "BTC", "side": "long", "qty": "0.01"}, "leverage"),  # missing field
    ({"asset": "BTC", "side": "up", "qty": "0.01", "leverage": "2"}, "side"),
    ({"asset": "BTC", "side": "long", "qty": "0.01x", "leverage": "2"}, "qty"),
    ({"asset": "BTC", "side": "long", "qty": True, "leverage": "2"}, "qty"),
    ({"asset": "BTC", "side": "long", "qty": [1], "leverage": "2"}, "qty"),
    ({"asset": ["BTC"], "side": "long", "qty": "1", "leverage": "2"}, "asset"),
    ({"asset": "BTC", "side": "long", "qty": "-1", "leverage": "2"}, "size"),
    ({"asset": "BTC", "side": "long", "qty": "1e3", "leverage": "2"}, "qty"),
]


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(server: Server) -> None:
    with server.client() as c:
        token = register(c, "gus@example.com")
        for body, word in BAD_BODIES:
            r = c.post("/trade/create", json=body)
            assert 400 <= r.status_code < 500, (body, r.status_code)
            err = r.json()
            assert word in err["error"], (body, err)
        raw = [
            (b'{"asset":"BTC","side":"long","qty":NaN,"leverage":2}', "NaN"),
            (b'{"asset":"BTC","side":"long","qty":Infinity,"leverage":2}', "Infinity"),
            (b'{"asset":"BTC","side":"long","qty":1e400,"leverage":2}', "range"),
            (b'{"asset":"BTC","side":"long","qty":0.000000001,"leverage":2}', "invalid_order"),
            (b'{"asset":"BTC", "side":', "JSON"),
            (b"\xff\xfe", "UTF-8"),
            (b"[" * 100_000, "body"),
        ]
        for data, word in raw:
            r = c.post("/trade/create", content=data,
                       headers={"content-type": "application/json"})  # fmt: skip
            assert 400 <= r.status_code < 500, (data[:40], r.status_code)
            assert word in r.text, (data[:40], r.text)
        form = {"content-type": "application/x-www-form-urlencoded"}
        r = c.post("/trade/create", content=b"asset=BTC", headers=form)
        assert r.status_code == 415  # a form with the login cookie: refused (CSRF)
        r = c.post("/trade/create", content=b"asset=BTC", headers={**form, **bearer(token)})
        assert r.status_code == 422  # with a Bearer token: not JSON
        r = c.post("/balance/deposit", json={"amount": "1", "pad": "x" * 200_000})
        assert r.status_code == 413 and r.json()["reason"] == "body_too_large"
        assert c.get("/trade/orders").json()["orders"] == []
        assert c.get("/balance").json()["balance"] == "5000"
        assert c.get("/candles", params={"asset": "BTC", "ts": "7m"}).status_code == 422
        assert c.get("/trade/orders", params={"status": "pending"}).status_code == 422


def test_concurrent_orders_spend_free_margin_once(server: Server) -> None:
    """40 orders of 199 USD margin at once on 5000 USD: exactly 25 fit (no double spend;
    the spread makes each open cost a little equity, so 200 would fit only 24)."""
    with server.client() as c:
        token = register(c, "hal@example.com")

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as cc:
            return cc.post("/trade/create", headers=bearer(token), json={
                "asset": "BTC", "side": "long", "margin": "199", "leverage": "2"})  # fmt: skip

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        results = list(pool.map(one, range(40)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 25 and codes.count(400) == 15, codes
    assert {r.json()["reason"] for r in results if r.status_code == 400} == {"insufficient_margin"}
    with server.client() as c:
        bal = c.get("/balance", headers=bearer(token)).json()
        assert Decimal(bal["used_margin"]) == 25 * 199 and bal["open_positions"] == 25
        assert Decimal(bal["free_margin"]) < 199


def test_public_routes_and_openapi(server: Server) -> None:
    with server.client() as c:
        health = c.get("/health").json()
        assert health["feed"]["state"] == "LIVE" and health["feed"]["source"] == "backpack"
        assert health["engine"]["seq"] > 0 and health["database"]["ok"]
        prices = {p["symbol"]: p for p in c.get("/prices").json()["prices"]}
        assert prices["BTC_USDC"]["ask"] is not None and prices["ETH_USDC"]["bid"] is None
        assert c.get("/candles", params={"asset": "BTC", "ts": "1m"}).status_code == 200
        spec = c.get("/openapi.json").json()
        paths = set(spec["paths"])
        for p in ("/auth/register", "/auth/login", "/auth/logout", "/auth/me", "/balance",
                  "/balance/{symbol}", "/balance/deposit", "/balance/reset", "/trade/create",
                  "/trade/open", "/trade/close/{orderId}", "/trade/orders",
                  "/trade/orders/{orderId}", "/candles", "/prices", "/health", "/api/v1/engine",
                  "/api/v1/state", "/api/v1/positions/open", "/api/v1/positions/close",
                  "/trades", "/trades/{orderId}/close"):  # fmt: skip
            assert p in paths, p
        assert c.get("/docs").status_code == 200
        # CORS is closed by default: no allow-origin for a foreign page
        r = c.options("/balance", headers={"Origin": "https://evil.example",
                                           "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert "access-control-allow-origin" not in r.headers


def test_cors_when_configured(tmp_path: Path) -> None:
    origin = ["--cors-origin", "https://app.example"]
    with running_server(tmp_path, extra=origin) as srv, srv.client() as c:
        ok = c.options("/balance", headers={"Origin": "https://app.example",
                                            "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert ok.headers.get("access-control-allow-origin") == "https://app.example"
        bad = c.options("/balance", headers={"Origin": "https://evil.example",
                                             "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert "access-control-allow-origin" not in bad.headers
