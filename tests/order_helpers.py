"""Helpers of the order tests against a real server: users, quotes, orders, the WebSocket."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from server_helpers import Market, Server, bearer, register
from websockets.sync.client import ClientConnection, connect

_emails = itertools.count()
STEP = Decimal("0.00000001")


def user(srv: Server) -> httpx.Client:
    """An HTTP client of a new user, sending its token as a Bearer header."""
    with srv.client() as c:
        token = register(c, f"orders{next(_emails)}@example.com")
    return srv.client(headers=bearer(token))


def quote(srv: Server, market: Market, bid: str, ask: str) -> None:
    """Publish a quote and wait until the server's engine has it."""
    t = market.set("BTC_USDC", bid, ask)
    until(lambda: _btc(srv)["t"] >= t, f"the server never got the quote {bid}/{ask}")


def _btc(srv: Server) -> dict[str, Any]:
    with srv.client() as c:
        prices = c.get("/prices").json()["prices"]
    return next(p for p in prices if p["symbol"] == "BTC_USDC" and p["t"] is not None)


def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except (StopIteration, KeyError):
            got = None
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(what)


def one(c: httpx.Client, order_id: str) -> dict[str, Any]:
    r = c.get(f"/trade/orders/{order_id}")
    assert r.status_code == 200, r.text
    return dict(r.json()["order"])


def pending_ids(c: httpx.Client) -> list[str]:
    r = c.get("/trade/pending")
    assert r.status_code == 200, r.text
    return [o["id"] for o in r.json()["orders"]]


def place(c: httpx.Client, **body: Any) -> httpx.Response:
    return c.post("/trade/orders", json={"asset": "BTC", "leverage": "10", **body})


class Socket:
    """A /ws connection with a token: the user's events."""

    def __init__(self, srv: Server, c: httpx.Client) -> None:
        url = srv.url.replace("http", "ws", 1) + "/ws"
        auth = {"Authorization": c.headers["authorization"]}
        self.ws: ClientConnection = connect(
            url, additional_headers=auth, open_timeout=10, legacy=True
        )
        assert json.loads(self.ws.recv(10))["type"] == "welcome"
        self.seen: list[dict[str, Any]] = []

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict:
        """The first message (seen or coming) that matches."""
        for msg in self.seen:
            if match(msg):
                return msg
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(max(0.01, deadline - time.monotonic())))
            self.seen.append(msg)
            if match(msg):
                return msg

    def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives until the socket is quiet for `quiet` seconds."""
        try:
            while True:
                self.seen.append(json.loads(self.ws.recv(quiet)))
        except TimeoutError:
            return self.seen

    def close(self) -> None:
        self.ws.close()
