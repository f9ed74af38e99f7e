"""The holes of bokeh-fastapi, closed: foreign Origins, forged session ids, leaked sessions,
and the root `/static` mount kept clear of the server's own paths."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from bokeh.util.token import generate_session_id
from server_helpers import Server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from server.auth import load_secret
from server.dashboard import session_key
from server.dashboard.guard import OriginGuard


def _page_token(server: Server) -> str:
    html = httpx.get(server.url + "/dashboard", timeout=30).text
    m = re.search(r'"token":\s*"([^"]+)"', html)
    assert m, "no session token in the page"
    return m.group(1)


def _ws_url(server: Server, path: str = "/dashboard/ws") -> str:
    return server.url.replace("http://", "ws://") + path


def test_a_foreign_origin_is_refused_before_the_socket_opens(server: Server) -> None:
    token = _page_token(server)
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(server), subprotocols=["bokeh", token],  # type: ignore[list-item]
                origin="https://evil.example", open_timeout=10)  # type: ignore[arg-type]  # fmt: skip
    assert refused.value.response.status_code == 403
    # the same page's own origin gets the Bokeh ACK
    with connect(_ws_url(server), subprotocols=["bokeh", token],  # type: ignore[list-item]
                 origin=server.url, open_timeout=10) as ws:  # type: ignore[arg-type]  # fmt: skip
        header = ws.recv(timeout=10)
        assert '"msgtype":"ACK"' in str(header).replace(" ", "")
    # the API's socket (which honours the login cookie) is guarded the same way
    with pytest.raises(InvalidStatus) as refused_api:
        connect(_ws_url(server, "/ws"), origin="https://evil.example",  # type: ignore[arg-type]
                open_timeout=10)  # fmt: skip
    assert refused_api.value.response.status_code == 403


def test_origin_rules() -> None:
    guard = OriginGuard(app=None, allowed=["https://desk.example.com"])  # type: ignore[arg-type]
    host = {b"host": b"127.0.0.1:8000"}
    assert guard.allows(host, "ws")  # no Origin: not a browser
    assert guard.allows({**host, b"origin": b"http://127.0.0.1:8000"}, "ws")
    assert not guard.allows({**host, b"origin": b"https://127.0.0.1:8000"}, "ws")  # scheme
    assert not guard.allows({**host, b"origin": b"http://127.0.0.1:8001"}, "ws")  # port
    assert guard.allows({**host, b"origin": b"https://desk.example.com"}, "ws")
    assert not guard.allows({**host, b"origin": b"null"}, "ws")
    assert not guard.allows({**host, b"origin": b"https://desk.example.com.evil.io"}, "ws")


def test_only_session_ids_the_server_signed_are_served(server: Server) -> None:
    forged = httpx.get(server.url + "/dashboard", params={"bokeh-session-id": "chosen-by-me"})
    assert forged.status_code == 403 and "invalid session id" in forged.text
    key = session_key(load_secret(server.data_dir))
    signed = generate_session_id(secret_key=key, signed=True)
    ok = httpx.get(server.url + "/dashboard", params={"bokeh-session-id": signed}, timeout=30)
    assert ok.status_code == 200
    other = generate_session_id(secret_key=b"x" * 64, signed=True)  # someone else's key
    assert (
        httpx.get(server.url + "/dashboard", params={"bokeh-session-id": other}).status_code == 403
    )


def _sessions(server: Server) -> int:
    return int(httpx.get(server.url + "/health", timeout=10).json()["dashboard"]["sessions"])


def test_closed_sessions_are_destroyed(server: Server) -> None:
    base = _sessions(server)
    for _ in range(20):
        token = _page_token(server)
        with connect(_ws_url(server), subprotocols=["bokeh", token],  # type: ignore[list-item]
                     origin=server.url, open_timeout=10) as ws:  # type: ignore[arg-type]  # fmt: skip
            ws.recv(timeout=10)  # ACK: the session is attached to this socket
    assert _sessions(server) >= base + 20
    deadline = time.monotonic() + 60
    while _sessions(server) > base and time.monotonic() < deadline:
        time.sleep(1)
    assert _sessions(server) <= base, "closed dashboard sessions are still alive after 60 s"


def test_static_mount_leaves_the_api_alone(server: Server) -> None:
    assert httpx.get(server.url + "/static/js/bokeh.min.js").status_code == 200
    assert httpx.get(server.url + "/favicon.ico").headers["content-type"] == "image/x-icon"
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/static", "/dashboard"))]
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
