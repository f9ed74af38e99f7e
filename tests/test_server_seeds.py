"""The seeds' documented APIs over HTTP against a real `workbench serve`, fed by a fake
Backpack at known SOL prices: the third seed's `/api/v1/engine` and `/api/v1/auth/*` (and
its README's curl examples, run as written), the second seed's `/api/v1/positions/*`, the
fourth seed's `/trades`, all on the one engine and refusing a missing or forged token."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt
from server_helpers import Market, Server, bearer, register, wait_price

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"  # beside the repo, if there


def floor8(d: Decimal) -> Decimal:
    return d.quantize(Decimal("1e-8"), ROUND_DOWN)


def sol(server: Server, market: Market, bid: str) -> None:
    """Quote SOL at `bid` / `bid + 0.02` and wait until the server has it."""
    market.set("SOL_USDC", bid, str(Decimal(bid) + Decimal("0.02")))
    with server.client() as c:
        wait_price(c, "SOL_USDC", bid)


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"authToken={token}"}


def signup_signin(server: Server, email: str) -> str:
    """The third seed's signup then signin; returns the `authToken` cookie signin set."""
    creds = {"email": email, "password": "long enough 1"}
    r = httpx.post(server.url + "/api/v1/auth/signup", json=creds, timeout=30)
    assert r.status_code == 201, r.text
    assert r.cookies["authToken"] == r.json()["token"]
    r = httpx.post(server.url + "/api/v1/auth/signin", json=creds, timeout=30)
    assert r.status_code == 200, r.text
    set_cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("authToken=")]
    assert len(set_cookie) == 1 and "httponly" in set_cookie[0].lower()
    assert r.cookies["authToken"] == r.json()["token"]
    return str(r.cookies["authToken"])


def engine(c: httpx.Client, token: str, body: dict[str, Any] | bytes) -> httpx.Response:
    if isinstance(body, bytes):  # JSON text as the README writes it (230.50 stays 230.50)
        return c.post("/api/v1/engine", content=body,
                      headers={**cookie(token), "Content-Type": "application/json"})  # fmt: skip
    return c.post("/api/v1/engine", json=body, headers=cookie(token))


def envelope(r: httpx.Response, status: int, ok: bool) -> dict[str, Any]:
    """Check the third seed's answer shape; returns `engineResponse.data`."""
    assert r.status_code == status, r.text
    out = r.json()
    assert out["success"] is ok and isinstance(out["orderId"], str) and out["orderId"]
    er = out["engineResponse"]
    assert er["status"] == ("success" if ok else "error")
    assert isinstance(er["message"], str) and er["message"]
    assert isinstance(out["latency"], int) and 0 <= out["latency"] < 10_000
    assert (er["data"] is None) is (not ok)
    return er["data"]  # type: ignore[no-any-return]


README_CREATE_TRADE = b"""{
  "command": "CREATE_TRADE",
  "asset": "SOL_USDC",
  "direction": "LONG",
  "margin": 1000,
  "leverage": 50,
  "stopLossPrice": 230.50,
  "takeProfitPrice": 250.75
}"""


def test_third_seed_engine_flow(server: Server, market: Market) -> None:
    sol(server, market, "240")
    token = signup_signin(server, "tess@example.com")
    with httpx.Client(base_url=server.url, timeout=30) as c:  # only the raw Cookie header
        me = c.get("/api/v1/auth/me", headers=cookie(token))
        assert me.status_code == 200 and me.json()["user"]["email"] == "tess@example.com"
        uid = me.json()["user"]["id"]
        acct = envelope(engine(c, token, {"command": "CREATE_ACCOUNT"}), 200, True)
        assert acct["userId"] == uid and acct["balance"] == "5000"
        bal = envelope(engine(c, token, {"command": "GET_BALANCE"}), 200, True)
        assert bal["balances"] == [{"symbol": "USD", "balance": 500000, "decimals": 2}]
        assert (bal["free_margin"], bal["open_positions"]) == ("5000", 0)
        usd = envelope(engine(c, token, {"command": "GET_USD_BALANCE"}), 200, True)
        assert (usd["symbol"], usd["balance"], usd["decimals"]) == ("USD", 500000, 2)

        r = engine(c, token, README_CREATE_TRADE)
        t = envelope(r, 200, True)
        qty = floor8(Decimal(1000) * 50 / Decimal("240.02"))  # a LONG fills at the ask
        assert t["qty"] == "208.31597366" == str(qty)
        assert r.json()["orderId"] == t["id"]
        assert (t["asset"], t["side"], t["status"]) == ("SOL_USDC", "long", "open")
        assert (t["openingPrice"], t["margin"], t["leverage"]) == ("240.02", "1000", "50")
        assert (t["stopLoss"], t["takeProfit"]) == ("230.50", "250.75")
        assert Decimal(t["upnl"]) == qty * Decimal("-0.02")  # valued at the bid 240

        # refused by the engine: the envelope with success false and a 4xx
        r = engine(c, token, {"command": "CREATE_TRADE", "asset": "SOL_USDC",
                              "direction": "LONG", "margin": 100000, "leverage": 2})  # fmt: skip
        envelope(r, 400, False)
        assert r.json()["reason"] == "insufficient_margin"
        r = engine(c, token, {"command": "SELL_EVERYTHING"})
        assert r.status_code == 422 and r.json()["reason"] == "invalid_request"
        assert "command" in r.json()["error"]

        sol(server, market, "245")  # below the take profit, above the stop and liquidation
        r = engine(c, token, {"command": "CLOSE_TRADE", "tradeId": t["id"]})
        closed = envelope(r, 200, True)
        assert r.json()["orderId"] == t["id"]
        assert (closed["status"], closed["closeReason"]) == ("closed", "manual")
        assert closed["closingPrice"] == "245.00"  # the bid, to the tick
        pnl = qty * (Decimal("245") - Decimal("240.02"))
        assert Decimal(closed["pnl"]) == pnl == Decimal("1037.4135488268")
        bal = envelope(engine(c, token, {"command": "GET_BALANCE"}), 200, True)
        assert Decimal(bal["balance"]) == 5000 + pnl and bal["open_positions"] == 0
        usd = envelope(engine(c, token, {"command": "GET_USD_BALANCE"}), 200, True)
        assert usd["balance"] == 603741  # cents, half up
        r = engine(c, token, {"command": "CLOSE_TRADE", "tradeId": t["id"]})  # closed already
        envelope(r, 404, False)
        assert not c.cookies  # every call above authenticated by the header alone


def test_second_seed_positions_ignore_current_price(server: Server, market: Market) -> None:
    sol(server, market, "240")
    with server.client() as c:
        token = register(c, "sam@example.com")
    with httpx.Client(base_url=server.url, timeout=30, headers=bearer(token)) as c:
        r = c.post("/api/v1/positions/open", json={"margin": 1000, "asset": "SOL",
                   "type": "long", "leverage": 2, "currentPrice": 1})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["success"] is True
        pos = r.json()["position"]
        qty = floor8(Decimal(2000) / Decimal("240.02"))
        assert pos["openingPrice"] == "240.02" and pos["qty"] == "8.33263894" == str(qty)
        assert (pos["asset"], pos["side"], pos["margin"]) == ("SOL_USDC", "long", "1000")
        state = c.get("/api/v1/state").json()
        assert [p["id"] for p in state["positions"]] == [pos["id"]]
        assert state["balance"]["used_margin"] == "1000"
        assert state["balance"]["open_positions"] == 1

        sol(server, market, "245")
        r = c.post("/api/v1/positions/close", json={"positionId": pos["id"],
                                                    "currentPrice": 999999})  # fmt: skip
        assert r.status_code == 200, r.text
        closed = r.json()["position"]
        assert closed["closingPrice"] == "245.00" and closed["status"] == "closed"
        pnl = qty * (Decimal("245") - Decimal("240.02"))  # the engine's bid, not 999999
        assert Decimal(closed["pnl"]) == pnl == Decimal("41.4965419212")
        state = c.get("/api/v1/state").json()
        assert state["positions"] == [] and Decimal(state["balance"]["balance"]) == 5000 + pnl
        r = c.post("/api/v1/positions/close", json={"positionId": pos["id"]})
        assert r.status_code == 404 and r.json()["reason"] == "unknown_position"


def test_fourth_seed_trades_and_balance(server: Server, market: Market) -> None:
    sol(server, market, "240")
    with server.client() as c:
        token = register(c, "fio@example.com")
    with httpx.Client(base_url=server.url, timeout=30, headers=bearer(token)) as c:
        r = c.post("/trades", json={"asset": "SOL", "side": "short", "margin": 100,
                                    "leverage": 5})  # fmt: skip
        assert r.status_code == 201, r.text
        oid, order = r.json()["orderId"], r.json()["order"]
        qty = floor8(Decimal(500) / Decimal(240))  # a SHORT fills at the bid
        assert order["id"] == oid and order["qty"] == "2.08333333" == str(qty)
        assert order["openingPrice"] == "240.00" and order["status"] == "open"
        assert c.get("/balance").json()["used_margin"] == "100"
        sol(server, market, "235")
        r = c.post(f"/trades/{oid}/close")
        assert r.status_code == 200, r.text
        closed = r.json()["order"]
        assert closed["closingPrice"] == "235.02"  # a SHORT closes at the ask
        pnl = qty * (Decimal("240") - Decimal("235.02"))
        assert Decimal(closed["pnl"]) == pnl == Decimal("10.3749999834")
        bal = c.get("/balance").json()
        assert Decimal(bal["balance"]) == 5000 + pnl and bal["used_margin"] == "0"
        assert bal["balances"] == [{"symbol": "USD", "balance": 501037, "decimals": 2}]
        assert c.post(f"/trades/{oid}/close").status_code == 404


def test_one_engine_one_trade_path_across_the_apis(server: Server, market: Market) -> None:
    """Orders opened through each seed's API are one account's orders everywhere, and each
    closes through another seed's API."""
    sol(server, market, "240")
    with server.client() as c:
        token = register(c, "uma@example.com")
    with httpx.Client(base_url=server.url, timeout=30, headers=bearer(token)) as c:
        cmd = {"command": "CREATE_TRADE", "asset": "SOL_USDC", "direction": "SHORT",
               "margin": 10, "leverage": 3}  # fmt: skip
        via_engine = envelope(engine(c, token, cmd), 200, True)
        body = {"margin": 20, "asset": "SOL", "type": "long", "leverage": 4}
        via_positions = c.post("/api/v1/positions/open", json=body).json()["position"]
        body = {"asset": "SOL_USDC", "side": "long", "margin": 30, "leverage": 5}
        via_trades = c.post("/trades", json=body).json()["order"]
        ids = {via_engine["id"], via_positions["id"], via_trades["id"]}
        assert len(ids) == 3
        listed = c.get("/trade/orders").json()["orders"]
        assert {o["id"] for o in listed} == ids
        assert {o["id"]: o["margin"] for o in listed} == {
            via_engine["id"]: "10", via_positions["id"]: "20", via_trades["id"]: "30"}  # fmt: skip
        assert {p["id"] for p in c.get("/api/v1/state").json()["positions"]} == ids
        bal = envelope(engine(c, token, {"command": "GET_BALANCE"}), 200, True)
        assert bal["used_margin"] == "60" and bal["open_positions"] == 3

        assert c.post(f"/trades/{via_engine['id']}/close").status_code == 200
        envelope(engine(c, token, {"command": "CLOSE_TRADE", "tradeId": via_positions["id"]}),
                 200, True)  # fmt: skip
        r = c.post("/api/v1/positions/close", json={"positionId": via_trades["id"]})
        assert r.status_code == 200, r.text
        closed = c.get("/trade/orders", params={"status": "closed"}).json()["orders"]
        assert {o["id"] for o in closed} == ids
        assert {o["closeReason"] for o in closed} == {"manual"}
        assert c.get("/trade/orders", params={"status": "open"}).json()["orders"] == []
        assert c.get(f"/trade/orders/{via_trades['id']}").json()["order"]["status"] == "closed"


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_every_seed_route_refuses_a_missing_or_forged_token(server: Server) -> None:
    sol_trade = {"asset": "SOL", "side": "long", "margin": 10, "leverage": 2}
    with server.client() as c:
        token = register(c, "vic@example.com")
        oid = c.post("/trades", json=sol_trade).json()["orderId"]
        before = c.get("/balance").json()
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = [
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        jwt.encode(claims, "k" * 64, algorithm="HS256"),
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "a.b.c",
    ]
    carriers = [{}] + [h for f in forged for h in (bearer(f), cookie(f), {"Cookie": f"token={f}"})]
    routes = [
        ("GET", "/api/v1/state", None),
        ("POST", "/api/v1/positions/open", {"margin": 10, "asset": "SOL", "type": "long",
                                            "leverage": 2, "currentPrice": 1}),
        ("POST", "/api/v1/positions/close", {"positionId": oid, "currentPrice": 1}),
        ("POST", "/api/v1/engine", {"command": "CLOSE_TRADE", "tradeId": oid}),
        ("POST", "/api/v1/engine", {"command": "CREATE_TRADE", "asset": "SOL_USDC",
                                    "direction": "LONG", "margin": 10, "leverage": 2}),
        ("GET", "/api/v1/auth/me", None),
        ("POST", "/trades", sol_trade),
        ("POST", f"/trades/{oid}/close", None),
        ("GET", "/balance", None),
    ]  # fmt: skip
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for method, path, body in routes:
            for headers in carriers:
                r = c.request(method, path, json=body, headers=headers)
                where = (method, path, headers)
                assert r.status_code == 401, where
                assert r.headers["content-type"].startswith("application/json"), where
                err = r.json()
                assert set(err) == {"error", "reason"} and err["reason"] == "unauthorized", where
                assert isinstance(err["error"], str) and err["error"], where
        r = c.post("/api/v1/auth/signin", json={"email": "vic@example.com", "password": "nope"})
        assert r.status_code == 401 and r.json()["reason"] == "invalid_credentials"
        assert "authToken" not in r.cookies
        # another user's valid token reaches nothing of the victim's
        with server.client() as oc:
            other = register(oc, "mal@example.com")
        r = engine(c, other, {"command": "CLOSE_TRADE", "tradeId": oid})
        envelope(r, 404, False)
        r = c.post("/api/v1/positions/close", json={"positionId": oid}, headers=bearer(other))
        assert r.status_code == 404
        assert c.post(f"/trades/{oid}/close", headers=bearer(other)).status_code == 404
        # nothing above touched the victim's account
        orders = c.get("/trade/orders", headers=bearer(token)).json()["orders"]
        assert [(o["id"], o["status"]) for o in orders] == [(oid, "open")]
        after = c.get("/balance", headers=bearer(token)).json()
        assert (after["balance"], after["used_margin"]) == (before["balance"], "10")


# The third seed README's "Manual Testing" curl commands, verbatim.
THIRD_SEED_CURLS = [
    """curl -X POST http://localhost:3005/api/v1/engine \\
  -H "Cookie: authToken=your-jwt-token" \\
  -H "Content-Type: application/json" \\
  -d '{"command": "CREATE_ACCOUNT"}'""",
    """curl -X POST http://localhost:3005/api/v1/engine \\
  -H "Cookie: authToken=your-jwt-token" \\
  -H "Content-Type: application/json" \\
  -d '{
    "command": "CREATE_TRADE",
    "asset": "SOL_USDC",
    "direction": "LONG",
    "margin": 1000,
    "leverage": 10
  }'""",
    """curl -X POST http://localhost:3005/api/v1/engine \\
  -H "Cookie: authToken=your-jwt-token" \\
  -H "Content-Type: application/json" \\
  -d '{"command": "GET_BALANCE"}'""",
]


def readme_says(pattern: str, commands: list[str]) -> None:
    """The copies are the seed README's own words (checked where the READMEs are at hand)."""
    readme = next(SEEDS.glob(pattern), None) if SEEDS.is_dir() else None
    if readme is not None:
        doc = "\n".join(_flat(readme.read_text()))
        for command in commands:
            assert "\n".join(_flat(command)) in doc, command


def _flat(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def curl(command: str, subs: dict[str, str]) -> dict[str, Any]:
    """Run a README curl command through the shell, with `subs` replaced in its text."""
    cmd = command
    for old, new in subs.items():
        cmd = cmd.replace(old, new)
    assert shlex.split(cmd)[0] == "curl"
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_third_seed_readme_curl_examples_work_as_written(server: Server, market: Market) -> None:
    readme_says("002_*.txt", [*THIRD_SEED_CURLS, README_CREATE_TRADE.decode()])
    sol(server, market, "240")
    token = signup_signin(server, "cory@example.com")
    subs = {"http://localhost:3005": server.url, "your-jwt-token": token}
    created, traded, balance = (curl(cmd, subs) for cmd in THIRD_SEED_CURLS)
    assert created["success"] is True
    assert created["engineResponse"]["data"]["balance"] == "5000"
    assert traded["success"] is True and traded["engineResponse"]["status"] == "success"
    t = traded["engineResponse"]["data"]
    assert traded["orderId"] == t["id"] and t["openingPrice"] == "240.02"
    assert t["qty"] == str(floor8(Decimal(10000) / Decimal("240.02")))
    assert (t["margin"], t["leverage"], t["side"]) == ("1000", "10", "long")
    b = balance["engineResponse"]["data"]
    assert (b["used_margin"], b["open_positions"], b["balance"]) == ("1000", 1, "5000")
    bad = curl(THIRD_SEED_CURLS[2], {"http://localhost:3005": server.url})  # placeholder token
    assert bad["reason"] == "unauthorized"


# The second seed README's curl commands, verbatim; it sends no token, so ours gets one added.
SECOND_SEED_CURLS = [
    "curl http://localhost:4000/api/v1/state",
    """curl -X POST http://localhost:4000/api/v1/positions/open \\
  -H "Content-Type: application/json" \\
  -d '{
    "margin": 1000,
    "asset": "SOL",
    "type": "long",
    "leverage": 2,
    "currentPrice": 150
  }'""",
    """curl -X POST http://localhost:4000/api/v1/positions/close \\
  -H "Content-Type: application/json" \\
  -d '{
    "positionId": "pos_123456",
    "currentPrice": 155
  }'""",
]


def test_second_seed_readme_curl_examples_work_with_a_token(server: Server, market: Market) -> None:
    readme_says("001_*.txt", SECOND_SEED_CURLS)
    sol(server, market, "240")
    with server.client() as c:
        token = register(c, "dot@example.com")
    auth = f'curl -H "Authorization: Bearer {token}" '
    subs = {"http://localhost:4000": server.url, "curl ": auth}
    assert curl(SECOND_SEED_CURLS[0], subs)["positions"] == []
    opened = curl(SECOND_SEED_CURLS[1], subs)["position"]
    assert opened["openingPrice"] == "240.02"  # not the 150 the client says
    closed = curl(SECOND_SEED_CURLS[2], {**subs, "pos_123456": opened["id"]})["position"]
    assert closed["closingPrice"] == "240.00" and closed["status"] == "closed"  # not 155
    assert Decimal(closed["pnl"]) == Decimal(opened["qty"]) * Decimal("-0.02")
