"""`/ws` against hostile or stale clients, on a real server: malformed messages get an
error frame and the socket stays usable; a logged-out or expired token's socket is closed
with 1008; an oversized upgrade request is refused at once instead of hanging."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from server_helpers import Server, bearer, register, start_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.auth import MemoryRevocations, TokenService

SECRET = secrets.token_hex(32)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server on simulated prices, with a signing secret the tests know."""
    s = start_server(tmp_path_factory.mktemp("wssec") / "data",
                     env={"WORKBENCH_JWT_SECRET": SECRET})  # fmt: skip
    try:
        yield s
    finally:
        assert s.stop() == 0, s.output()


def ws_url(server: Server, token: str | None = None) -> str:
    url = server.url.replace("http", "ws", 1) + "/ws"
    return f"{url}?token={token}" if token else url


@contextlib.contextmanager
def opened(server: Server, token: str | None = None, **kw: Any) -> Iterator[ClientConnection]:
    """A socket past its welcome message."""
    with connect(ws_url(server, token), open_timeout=5, **kw) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        yield ws


def until_closed(ws: ClientConnection, timeout: float) -> tuple[list[dict], float]:
    """Messages read until the server's close frame (AssertionError if none in time);
    returns them and the seconds it took."""
    got: list[dict] = []
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            got.append(json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
        except ConnectionClosed:
            return got, time.monotonic() - started
        except TimeoutError:
            raise AssertionError(f"still open after {timeout} s; got {got}") from None


BAD = [
    ("[" * 1000 + "]" * 1000, "nested"),
    ('{"":' * 800 + "1" + "}" * 800, "nested"),  # 4001 characters
    ('{"subscribe": ' + "[" * 1000 + "]" * 1000 + "}", "nested"),
    ("x" * 100_000, "too long"),
    ("5", "subscribe"),
    ('"subscribe"', "subscribe"),
    ("null", "subscribe"),
    ("{}", "subscribe"),
    ('{"subscribe": {"BTC": 1}}', "list"),
    ('{"subscribe": [1, 2]}', "list"),
    ('{"subscribe": ["BTC_USDC", "NOPE"]}', "unknown"),
    ('{"subscribe": ["BTC_USDC"], "unsubscribe": "ETH"}', "list"),  # and BTC not subscribed
    ("\U0001f600 not json", "not JSON"),
]


def test_malformed_messages_get_an_error_frame_and_the_socket_stays_usable(srv: Server) -> None:
    with opened(srv) as ws:
        for text, word in BAD:
            ws.send(text)
            err = json.loads(ws.recv(timeout=5))
            assert err["type"] == "error" and word in err["error"], (text[:30], err)
        ws.send(b"\x00\x01binary")
        err = json.loads(ws.recv(timeout=5))
        assert err["type"] == "error" and "binary" in err["error"], err
        # nothing was subscribed by the refused messages; a good one still works
        ws.send(json.dumps({"subscribe": ["ETH"]}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "subscribed", "symbols": ["ETH_USDC"]}
    assert "Traceback" not in srv.output()


def test_a_message_over_the_frame_limit_is_closed_with_1009(srv: Server) -> None:
    with opened(srv, max_size=None) as ws:
        ws.send("x" * (16 * 1024 * 1024 + 1))  # over uvicorn's ws_max_size
        until_closed(ws, 10)
        assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1009


def test_logout_closes_that_tokens_sockets_with_1008(srv: Server) -> None:
    with srv.client() as c, srv.client() as other:
        t1 = register(c, "out@example.com")
        login = {"email": "out@example.com", "password": "correct horse 1"}
        t2 = other.post("/auth/login", json=login).json()["token"]
        with opened(srv, t1) as ws1, opened(srv, t2) as ws2:
            r = c.post("/auth/logout", headers=bearer(t1))
            assert r.status_code == 200, r.text
            # an event of this user after the logout: the other token's socket gets it
            assert other.post("/balance/deposit", json={"amount": "7"},
                              headers=bearer(t2)).status_code == 200  # fmt: skip
            got2 = []
            while not any(m["type"] == "deposit" for m in got2):
                got2.append(json.loads(ws2.recv(timeout=5)))
            got1, took = until_closed(ws1, 5)
            close = ws1.protocol.close_rcvd
            assert close is not None and (close.code, close.reason) == (1008, "logged out")
            assert took < 2, took
            assert not [m for m in got1 if m["type"] != "quote"], got1
            # the other token's socket is still open
            ws2.send(json.dumps({"subscribe": ["BTC"]}))
            while json.loads(ws2.recv(timeout=5))["type"] != "subscribed":
                pass


def test_a_token_expiring_while_connected_closes_its_socket(srv: Server) -> None:
    with srv.client() as c:
        token = register(c, "exp@example.com")
        user_id = c.get("/auth/me", headers=bearer(token)).json()["user"]["id"]
    short = TokenService(SECRET.encode(), ttl_s=1, revocations=MemoryRevocations())
    brief, claims = short.issue(user_id)
    with opened(srv, brief) as ws:
        _, took = until_closed(ws, 5)
        assert time.time() >= claims["exp"] - 0.05
        assert took < 2, took
        close = ws.protocol.close_rcvd
        assert close is not None and (close.code, close.reason) == (1008, "token expired")


def raw_upgrade(server: Server, query: str = "", cookie: str | None = None) -> tuple[bytes, float]:
    """Send a WebSocket upgrade by hand; returns the first answer and how long it took."""
    port = int(server.url.rsplit(":", 1)[1])
    lines = [f"GET /ws{query} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]  # fmt: skip
    if cookie is not None:
        lines.append(f"Cookie: token={cookie}")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        started = time.monotonic()
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            answer = s.recv(4096)
        except TimeoutError:
            answer = b""
        return answer, time.monotonic() - started


@pytest.mark.parametrize("where", ["query", "cookie"])
def test_an_oversized_upgrade_is_refused_at_once(srv: Server, where: str) -> None:
    big = "a" * 9000
    answer, took = raw_upgrade(srv, f"?token={big}" if where == "query" else "",
                               cookie=big if where == "cookie" else None)  # fmt: skip
    status = answer.split(b"\r\n", 1)[0]
    assert status in (b"HTTP/1.1 414 Request-URI Too Long",
                      b"HTTP/1.1 431 Request Header Fields Too Large"), answer[:200]  # fmt: skip
    assert took < 2, took


def test_a_normal_size_token_still_opens_a_socket(srv: Server) -> None:
    with srv.client() as c:
        token = register(c, "fine@example.com")
    answer, _ = raw_upgrade(srv, cookie=token)
    assert answer.startswith(b"HTTP/1.1 101 "), answer[:200]
    with opened(srv, token) as ws:
        ws.send(json.dumps({"subscribe": ["SOL"]}))
        assert json.loads(ws.recv(timeout=5))["symbols"] == ["SOL_USDC"]
    # a cookie just under websockets' 8 KiB line limit is refused as a token, at once
    started = time.monotonic()
    with connect(ws_url(srv), additional_headers={"Cookie": "token=" + "a" * 8100}) as ws:
        until_closed(ws, 2)
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1008
    assert time.monotonic() - started < 2
