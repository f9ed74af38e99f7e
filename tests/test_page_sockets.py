"""A page's socket that drops, or that comes back to a session the server no longer has:
no traceback, and the page works (see server/dashboard/ws_mend.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from pathlib import Path
from typing import Any

import httpx
import pytest
from bokeh.document import Document
from bokeh.protocol import Protocol
from bokeh.protocol.receiver import Receiver
from bokeh.server.connection import ServerConnection
from bokeh.server.protocol_handler import ProtocolHandler
from bokeh.server.session import ServerSession
from bokeh.util.token import generate_jwt_token, generate_session_id, get_token_payload
from bokeh_fastapi.handler import WSHandler
from server_helpers import running_server
from starlette.websockets import WebSocketState
from websockets.sync.client import connect

from server.auth import load_secret
from server.dashboard import session_key
from server.dashboard.sessions import COOKIE
from server.dashboard.ws_mend import mend_page_sockets

PULL = ['{"msgid": "m1", "msgtype": "PULL-DOC-REQ"}', "{}", "{}"]


def test_a_socket_naming_a_session_the_server_no_longer_has_gets_a_working_page(
    tmp_path: Path,
) -> None:
    """As after a restart, or when the session ended as unused before its socket came:
    Bokeh builds the session from the socket (it failed on the raw ASGI scope)."""
    data = tmp_path / "data"
    with running_server(data) as srv:
        page = httpx.get(srv.url + "/dashboard", timeout=60)
        found = re.search(r'"token":\s*"([^"]+)"', page.text)
        assert found, "no session token in the page"
        payload = get_token_payload(found.group(1))  # this browser's, signed by the server
        key = session_key(load_secret(data))
        gone = generate_jwt_token(
            generate_session_id(secret_key=key, signed=True), secret_key=key, signed=True,
            extra_payload={k: v for k, v in payload.items() if k != "session_expiry"},
        )  # fmt: skip
        with connect(
            srv.url.replace("http://", "ws://") + "/dashboard/ws", subprotocols=["bokeh", gone],  # type: ignore[list-item]
            origin=srv.url, additional_headers={"Cookie": f"{COOKIE}={page.cookies[COOKIE]}"},
            open_timeout=30, max_size=None,
        ) as ws:  # fmt: skip
            assert _message(ws)[0]["msgtype"] == "ACK"
            for frame in PULL:
                ws.send(frame)
            while (reply := _message(ws))[0]["msgtype"] != "PULL-DOC-REPLY":
                pass  # the session's patches
            assert reply[0]["reqid"] == "m1" and reply[1]["doc"]["roots"], "no page"
        log = srv.output()
    assert "Traceback" not in log and "__getattr__" not in log, log


def _message(ws: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One Bokeh message: (header, content); its buffers are read and dropped."""
    header = json.loads(ws.recv(timeout=30))
    ws.recv(timeout=30)  # metadata
    content = json.loads(ws.recv(timeout=30))
    for _ in range(2 * header.get("num_buffers", 0)):  # each: its reference, its bytes
        ws.recv(timeout=30)
    return header, content


class _Socket:
    """Starlette's WebSocket as bokeh-fastapi uses it: frames the browser sent before it
    went, then the end (Starlette raises once the disconnect was received)."""

    application_state = WebSocketState.CONNECTED

    def __init__(self, frames: list[str]) -> None:
        self.frames = deque(frames)
        self.sent: list[str] = []

    async def receive(self) -> dict[str, Any]:
        if self.frames:
            return {"type": "websocket.receive", "text": self.frames.popleft()}
        raise RuntimeError('Cannot call "receive" once a disconnect message has been received.')

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.frames.clear()


def test_what_a_gone_browser_sent_is_not_handled_on_its_detached_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A push that found the browser gone detached its socket from the session (bokeh-
    fastapi's `on_close`); the messages the browser had sent before were then still
    handled, each one an AssertionError and a traceback in the log."""
    mend_page_sockets()

    async def run() -> _Socket:
        handler = WSHandler(None, None)  # type: ignore[arg-type]
        handler._socket = _Socket(PULL * 3)  # type: ignore[assignment]
        protocol = Protocol()
        handler.receiver = Receiver(protocol)  # type: ignore[assignment]
        handler.handler = ProtocolHandler()  # type: ignore[assignment]
        session = ServerSession("s1", Document())  # type: ignore[arg-type]
        connection = ServerConnection(protocol, handler, None, session)  # type: ignore[arg-type]
        handler.connection = connection  # type: ignore[assignment]
        connection.detach_session()  # what `on_close` does when a push found it gone
        await asyncio.wait_for(handler._receive_loop(), 10)
        return handler._socket  # type: ignore[return-value]

    with caplog.at_level(logging.ERROR):
        socket = asyncio.run(run())
    assert not [r for r in caplog.records if r.exc_info], caplog.text  # no traceback
    assert socket.sent == [], "an answer went out on a socket let go"
