"""A real WebSocket server on localhost that speaks Backpack's public feed protocol.

For tests and notebooks: subscriptions are silent, double subscriptions give no
duplicates, unknown symbols stay silent, bad streams get the real error frames, and
the server pings like the real one. Tests drive it with `publish`/`play` and break the
connection on purpose (`drop`, `close_connections`, `blackhole`, `refuse`). Use it as
`async with FakeBackpack() as fake:` or, from synchronous code, `FakeBackpackThread()`
(in `workbench.testing.fake_backpack_thread`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from workbench.feeds.backpack import DEPTH_WINDOWS, split_stream
from workbench.testing.backpack_frames import (
    Blackhole,
    Close,
    Drop,
    ErrorFrame,
    Frame,
    Raw,
    Sleep,
    Step,
    WaitSubscribed,
    error_text,
)

T = TypeVar("T")

PARSE_ERROR = (4002, "Parse error")
INVALID_STREAM = (4006, "Invalid stream")
INVALID_DEPTH_WINDOW = (4008, "Invalid depth window")


@dataclass
class Connection:
    """One client connection as the fake sees it."""

    serial: int
    ws: ServerConnection
    streams: set[str] = field(default_factory=set)
    blackholed: bool = False
    sent: int = 0


@dataclass(frozen=True)
class Closed:
    """How a connection ended: the close code and reason the server ended up with, and
    the Close frame it sent itself, if any (e.g. 1011 "keepalive ping timeout")."""

    serial: int
    code: int | None
    reason: str | None
    sent_code: int | None = None
    sent_reason: str | None = None


def stream_error(name: str) -> tuple[int, str] | None:
    """The error the real server gives for subscribing to `name`, or None when it is valid."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "depth" and parts[1] not in DEPTH_WINDOWS:
        return INVALID_DEPTH_WINDOW
    try:
        split_stream(name)
    except ValueError:
        return INVALID_STREAM
    return None


class FakeBackpack:
    """A Backpack-protocol WebSocket server on a free localhost port."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 60.0,
        ping_timeout: float | None = 120.0,
        close_timeout: float = 5.0,
        replay_on_subscribe: int = 0,
        history: int = 1000,
    ) -> None:
        """`replay_on_subscribe`: re-send the last N frames of a stream to a new subscriber,
        as a snapshot would (so a reconnecting client sees frames it already has)."""
        self.host, self._port = host, port
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.close_timeout = close_timeout
        self.replay_on_subscribe = replay_on_subscribe
        self._history: dict[str, deque[Frame]] = {}
        self._history_len = history
        self._server: Server | None = None
        self._changed = asyncio.Event()
        self._refuse = 0
        self.connections: dict[int, Connection] = {}
        self.accepted = 0
        self.refused = 0
        self.handshake_times: list[float] = []
        self.closed: list[Closed] = []
        self.received: list[tuple[int, str]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeBackpack:
        """Start listening; returns self."""
        self._server = await serve(
            self._handler,
            self.host,
            self._port,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
            process_request=self._process_request,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is None:
            return
        for conn in list(self.connections.values()):
            if conn.blackholed:
                conn.ws.transport.abort()
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FakeBackpack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return self._port

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:<port>`."""
        return f"ws://{self.host}:{self._port}"

    # -- waiting -----------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition"
    ) -> T:
        """Wait until `predicate()` is truthy (re-checked on every state change); return it."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    result = predicate()
                    if result:
                        return result
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"fake backpack: timed out after {timeout}s waiting for {what}"
            ) from None

    async def wait_subscribed(
        self, streams: Iterable[str], *, connection: int | None = None, timeout: float = 10.0
    ) -> int:
        """Wait until an open connection (number `connection`, if given) has all `streams`;
        return its serial (1 = first connection ever accepted)."""
        wanted = set(streams)

        def ready() -> int:
            for conn in self.connections.values():
                if (connection is None or conn.serial == connection) and wanted <= conn.streams:
                    return conn.serial
            return 0

        return await self.wait_for(ready, timeout, f"subscription to {sorted(wanted)}")

    async def wait_closed(self, serial: int, timeout: float = 10.0) -> Closed:
        """Wait until connection `serial` has ended; return how it ended."""

        def done() -> Closed | None:
            return next((c for c in self.closed if c.serial == serial), None)

        return await self.wait_for(done, timeout, f"connection {serial} to close")

    # -- server side of the protocol ---------------------------------------------------------

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.handshake_times.append(time.monotonic())
        if self._refuse > 0:
            self._refuse -= 1
            self.refused += 1
            self._notify()
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "maintenance\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.accepted += 1
        conn = Connection(self.accepted, ws)
        self.connections[conn.serial] = conn
        self._notify()
        try:
            async for message in ws:
                await self._on_message(conn, message)
        except ConnectionClosed:
            pass
        finally:
            del self.connections[conn.serial]
            sent = ws.protocol.close_sent
            self.closed.append(
                Closed(
                    conn.serial,
                    ws.close_code,
                    ws.close_reason,
                    sent.code if sent else None,
                    sent.reason if sent else None,
                )
            )
            self._notify()

    async def _send(self, conn: Connection, text: str) -> bool:
        if conn.blackholed:
            return False
        try:
            await conn.ws.send(text)
        except ConnectionClosed:
            return False
        conn.sent += 1
        return True

    async def _on_message(self, conn: Connection, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        self.received.append((conn.serial, text))
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        params = msg.get("params") if isinstance(msg, dict) else None
        method = msg.get("method") if isinstance(msg, dict) else None
        if (
            isinstance(message, bytes)
            or method not in ("SUBSCRIBE", "UNSUBSCRIBE")
            or not isinstance(params, list)
            or not all(isinstance(p, str) for p in params)
        ):
            await self._send(conn, error_text(*PARSE_ERROR))
            return
        for name in params:
            err = stream_error(name)
            if err is not None:
                await self._send(conn, error_text(*err))
                return
        if method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
            self._notify()
            return
        new = [p for p in dict.fromkeys(params) if p not in conn.streams]
        conn.streams.update(new)
        self._notify()
        if self.replay_on_subscribe:
            for name in new:
                for frame in list(self._history.get(name, ()))[-self.replay_on_subscribe :]:
                    await self._send(conn, frame.text)

    # -- driving it --------------------------------------------------------------------------

    async def publish(self, frame: Frame) -> int:
        """Send a data frame to every connection subscribed to its stream; return how many."""
        self._history.setdefault(frame.stream, deque(maxlen=self._history_len)).append(frame)
        sent = 0
        for conn in list(self.connections.values()):
            if frame.stream in conn.streams and await self._send(conn, frame.text):
                sent += 1
        return sent

    async def send_raw(self, text: str, stream: str | None = None) -> int:
        """Send any text (a malformed frame, say) to subscribers of `stream`, or to all."""
        sent = 0
        for conn in list(self.connections.values()):
            if (stream is None or stream in conn.streams) and await self._send(conn, text):
                sent += 1
        return sent

    async def send_error(self, code: int, message: str) -> int:
        """Push an error frame to every connection."""
        return await self.send_raw(error_text(code, message))

    async def drop(self) -> int:
        """Abort every connection's TCP socket without a Close frame (client sees 1006)."""
        conns = list(self.connections.values())
        for conn in conns:
            conn.ws.transport.abort()
        return len(conns)

    async def close_connections(self, code: int = 1001, reason: str = "going away") -> int:
        """Send a Close frame on every connection and wait for the handshakes to finish."""
        conns = list(self.connections.values())
        await asyncio.gather(*(c.ws.close(code, reason) for c in conns))
        return len(conns)

    async def blackhole(self) -> int:
        """Stop reading from and sending to every current connection, like a dead link:
        the client's pings go unanswered and no data arrives."""
        conns = list(self.connections.values())
        for conn in conns:
            conn.blackholed = True
            conn.ws.transport.pause_reading()
        return len(conns)

    def refuse(self, count: int) -> None:
        """Answer the next `count` handshakes with HTTP 503 (server in maintenance)."""
        self._refuse += count

    async def play(self, script: Iterable[Step]) -> None:
        """Perform a script of steps in order (see `workbench.testing.backpack_frames`)."""
        for step in script:
            match step:
                case Frame():
                    await self.publish(step)
                case Raw():
                    await self.send_raw(step.text, step.stream)
                case ErrorFrame():
                    await self.send_error(step.code, step.message)
                case Drop():
                    await self.drop()
                case Close():
                    await self.close_connections(step.code, step.reason)
                case Blackhole():
                    await self.blackhole()
                case Sleep():
                    await asyncio.sleep(step.seconds)
                case WaitSubscribed():
                    await self.wait_subscribed(
                        step.streams, connection=step.connection, timeout=step.timeout
                    )
                case _:
                    raise TypeError(f"not a script step: {step!r}")
