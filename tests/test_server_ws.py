"""The WebSocket `/ws` of a real server: quotes by subscription, each user's own events and
no one else's; and the hub's rule that a slow socket is dropped, never waited for."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from server_helpers import Market, Server, register
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.hub import QUEUE_SIZE, Client, Hub


def ws_url(server: Server, token: str | None = None) -> str:
    url = server.url.replace("http", "ws", 1) + "/ws"
    return f"{url}?token={token}" if token else url


def read_until(ws: ClientConnection, pred: Any, timeout: float = 10.0) -> list[dict]:
    """Messages up to and including the first one `pred` accepts."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        got.append(msg)
        if pred(msg):
            return got
    raise AssertionError(f"not seen; got {got}")


def drain(ws: ClientConnection, quiet: float = 0.5) -> list[dict]:
    got = []
    while True:
        try:
            got.append(json.loads(ws.recv(timeout=quiet)))
        except TimeoutError:
            return got


def test_quotes_by_subscription_and_events_only_to_their_owner(
    server: Server, market: Market
) -> None:
    with server.client() as ca, server.client() as cb:
        ta, tb = register(ca, "wa@example.com"), register(cb, "wb@example.com")
        with connect(ws_url(server, ta)) as wa, connect(ws_url(server, tb)) as wb, \
                connect(ws_url(server)) as public:  # fmt: skip
            hello = json.loads(wa.recv(timeout=5))
            assert hello["type"] == "welcome" and hello["user"] is not None
            assert json.loads(public.recv(timeout=5))["user"] is None
            json.loads(wb.recv(timeout=5))
            for ws in (wa, wb, public):
                ws.send(json.dumps({"subscribe": ["BTC"]}))
                assert read_until(ws, lambda m: m["type"] == "subscribed")[-1]["symbols"] == [
                    "BTC_USDC"]  # fmt: skip
            market.set("BTC_USDC", "60001", "60001.5")
            for ws in (wa, wb, public):
                q = read_until(ws, lambda m: m["type"] == "quote" and m["bid"] == "60001")[-1]
                assert q == {"type": "quote", "symbol": "BTC_USDC", "bid": "60001",
                             "ask": "60001.5", "t": q["t"]}  # fmt: skip
            r = ca.post("/trade/create", json={"asset": "BTC", "side": "long", "qty": "0.01",
                                               "leverage": "10", "stopLoss": "59000"})  # fmt: skip
            oid = r.json()["orderId"]
            opened = read_until(wa, lambda m: m["type"] == "opened")[-1]
            assert opened["ref"] == oid and opened["price"] == "60001.5"
            market.set("BTC_USDC", "58999", "58999.5")  # through the stop
            closed = read_until(wa, lambda m: m["type"] == "closed")[-1]
            assert closed["ref"] == oid and closed["reason"] == "stop_loss"
            ca.post("/balance/deposit", json={"amount": "10"})
            assert read_until(wa, lambda m: m["type"] == "deposit")[-1]["amount"] == "10"
            others = drain(wb) + drain(public)
            assert others, "they still get quotes"
            assert {m["type"] for m in others} <= {"quote"}, others  # never A's events
            # unsubscribe stops quotes
            public.send(json.dumps({"unsubscribe": ["BTC_USDC"]}))
            read_until(public, lambda m: m["type"] == "subscribed")
            market.set("BTC_USDC", "60000", "60000.5")
            assert not [m for m in drain(public) if m["type"] == "quote"]


def test_bad_messages_and_bad_tokens(server: Server) -> None:
    with connect(ws_url(server)) as ws:
        json.loads(ws.recv(timeout=5))
        for text, word in [("hello", "not JSON"), ("[1]", "subscribe"),
                           ('{"subscribe": "BTC"}', "list"), ('{"subscribe": ["DOGE"]}', "unknown"),
                           ("x" * 5000, "too long")]:  # fmt: skip
            ws.send(text)
            err = json.loads(ws.recv(timeout=5))
            assert err["type"] == "error" and word in err["error"], (text[:20], err)
        ws.send(json.dumps({"subscribe": ["ETH"]}))  # still open after errors
        assert json.loads(ws.recv(timeout=5))["symbols"] == ["ETH_USDC"]
    with pytest.raises(ConnectionClosed) as e, connect(ws_url(server, "forged.token.x")) as ws:
        ws.recv(timeout=5)
    assert e.value.rcvd is not None and e.value.rcvd.code == 1008
    assert "token" in e.value.rcvd.reason


class _StuckSocket:
    """A socket whose peer never reads: every send waits for ever."""

    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code


class _FastSocket:
    def __init__(self) -> None:
        self.got: list[str] = []

    async def send_text(self, text: str) -> None:
        self.got.append(text)


def test_a_slow_socket_is_dropped_and_never_slows_the_others() -> None:
    async def main() -> None:
        hub = Hub()
        hub.bind(asyncio.get_running_loop())
        slow, fast = Client(_StuckSocket(), "a"), Client(_FastSocket(), "b")  # type: ignore[arg-type]
        for c in (slow, fast):
            hub.add(c)
            hub.subscribe(c, "BTC_USDC")
        tasks = [asyncio.create_task(hub.sender(c)) for c in (slow, fast)]
        n = QUEUE_SIZE + 500
        started = time.perf_counter()
        for i in range(n):
            hub._dispatch([], [("BTC_USDC", i, 6_000_000_000_000, 6_000_000_000_050)])
            if i % 100 == 0:
                await asyncio.sleep(0)
        spent = time.perf_counter() - started
        await asyncio.sleep(0.05)
        assert slow.dropped and slow not in hub.clients and hub.dropped_slow == 1
        assert len(fast.ws.got) == n  # type: ignore[attr-defined]
        assert spent < 5  # dispatch never waited on the stuck socket
        for t in tasks:
            t.cancel()

    asyncio.run(main())
