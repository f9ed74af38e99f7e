"""A reconnecting client for Backpack's public WebSocket feed.

`BackpackClient.events()` yields what happens on the wire as small records: every parsed
frame with its local receive time, malformed frames, and each connect, failed connect and
disconnect with its reason. It re-subscribes after every reconnect and waits with
exponential backoff and jitter between attempts. It keeps no state about ticks: callers
decide what is a duplicate (a real server may re-send its current state on subscribe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Close

from workbench.feeds.backpack import (
    DEFAULT_WS_URL,
    Frame,
    MalformedFrame,
    StreamError,
    parse_frame,
    subscribe_message,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def now_us() -> int:
    """Wall-clock time in integer microseconds since the Unix epoch."""
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class Connected:
    """Connected and SUBSCRIBE sent at `at_us`; `failures` failed attempts came before."""

    at_us: int
    failures: int


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """A connection attempt failed; the next one is in `retry_in` seconds."""

    at_us: int
    reason: str
    retry_in: float


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection ended at `at_us`; the last frame on it arrived at `last_recv_us`
    (or, when none did, it is the time the connection was made)."""

    at_us: int
    last_recv_us: int
    reason: str


@dataclass(frozen=True, slots=True)
class Received:
    """A parsed frame and its local receive time."""

    frame: Frame
    recv_us: int


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that could not be parsed, kept as text with the reason."""

    text: str
    error: str
    recv_us: int


FeedEvent = Connected | ConnectFailed | Disconnected | Received | BadFrame


class Backoff:
    """Exponential backoff with 'equal jitter': the n-th delay is uniform in [d/2, d],
    d = min(maximum, initial * factor**n)."""

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self._rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        """The next delay in seconds."""
        d = min(self.maximum, self.initial * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return d / 2 + self._rng.uniform(0, d / 2)

    def reset(self) -> None:
        """Start again from the initial delay."""
        self.attempt = 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def close_reason(rcvd: Close | None, sent: Close | None) -> str:
    """Say how a connection ended, from the Close frames received and sent."""
    if rcvd is not None:
        return f"server closed ({rcvd.code}{' ' + rcvd.reason if rcvd.reason else ''})"
    if sent is not None:
        return f"client closed ({sent.code}{' ' + sent.reason if sent.reason else ''})"
    return "dropped (1006, no close frame)"


class BackpackClient:
    """Connects, subscribes to `streams`, and yields feed events until `stop()`."""

    def __init__(
        self,
        streams: Iterable[str],
        *,
        url: str = DEFAULT_WS_URL,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        backoff: Backoff | None = None,
        stable_after: float = 30.0,
    ) -> None:
        """`stable_after`: a connection that lived this long (or carried data) resets backoff."""
        self.streams = list(streams)
        self.subscribe_text = subscribe_message(self.streams)
        self.url = url
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.open_timeout, self.close_timeout = open_timeout, close_timeout
        self.backoff = backoff or Backoff()
        self.stable_after = stable_after
        self._stop = asyncio.Event()
        self._ws: ClientConnection | None = None

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called."""
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask `events()` to end: closes the socket; call from the client's event loop."""
        self._stop.set()
        if self._ws is not None:
            asyncio.ensure_future(self._ws.close(1000, "client stopping"))

    async def _unless_stopped(self, aw: Awaitable[T]) -> tuple[bool, T | None]:
        """Await `aw` unless stop() comes first; returns (completed, result)."""
        task = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task.done():
            return True, task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return False, None

    async def _connect(self) -> ClientConnection:
        return await connect(
            self.url,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            max_size=2**24,
        )

    async def events(self) -> AsyncIterator[FeedEvent]:
        """Yield feed events, reconnecting for ever, until `stop()` is called."""
        failures = 0
        while not self.stopping:
            try:
                ok, ws = await self._unless_stopped(self._connect())
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
                failures += 1
                delay = self.backoff.next()
                yield ConnectFailed(now_us(), f"connect failed: {_describe(exc)}", delay)
                await self._unless_stopped(asyncio.sleep(delay))
                continue
            if not ok or ws is None:
                break
            if self.stopping:  # connected just as stop() came
                await ws.close(1000, "client stopping")
                break
            self._ws = ws
            connected_mono = time.monotonic()
            last_recv: int | None = None
            got_data = False
            connected_at = now_us()
            try:
                await ws.send(self.subscribe_text)
                connected_at = now_us()
                yield Connected(connected_at, failures)
                failures = 0
                async for message in ws:
                    last_recv = now_us()
                    try:
                        frame = parse_frame(message)
                    except MalformedFrame as exc:
                        text = message if isinstance(message, str) else repr(message)
                        yield BadFrame(text, str(exc), last_recv)
                        continue
                    got_data = got_data or not isinstance(frame, StreamError)
                    yield Received(frame, last_recv)
                    if self.stopping:
                        break
                reason = close_reason(ws.protocol.close_rcvd, ws.protocol.close_sent)
            except ConnectionClosed as exc:
                reason = close_reason(exc.rcvd, exc.sent)
            finally:
                self._ws = None
                await ws.close(1000, "client stopping")
            if self.stopping:
                break
            yield Disconnected(now_us(), last_recv or connected_at, reason)
            if got_data or time.monotonic() - connected_mono >= self.stable_after:
                self.backoff.reset()
            delay = self.backoff.next()
            log.info("reconnecting to %s in %.2fs after: %s", self.url, delay, reason)
            await self._unless_stopped(asyncio.sleep(delay))
