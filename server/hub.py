"""One producer, many sockets: fan-out of quotes and of each user's own events.

The sequencer's commit thread hands every durable batch to `Hub.publish`, which moves
it onto the event loop. There each socket has a bounded queue drained by its own sender
task; a socket whose queue is full is too slow and is dropped (closed with 1013), so a
slow client never holds up the engine or the other sockets. A socket opened with a token
is closed with 1008 when that token is logged out or expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket

from workbench.live.sink import QuoteTuple
from workbench.money import fmt_price

log = logging.getLogger(__name__)

QUEUE_SIZE = 2000
SLOW = (1013, "too slow: messages were not read")


@dataclass(eq=False)
class Client:
    """One socket: whose events it gets (account None: public only) and its symbols.

    `token_id` and `expires` (epoch seconds) are those of the token it was opened with.
    """

    ws: WebSocket
    account: str | None
    token_id: str | None = None
    expires: float | None = None
    symbols: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False
    closing: tuple[int, str] = SLOW  # the close code and reason once dropped
    expiry: asyncio.TimerHandle | None = None


class Hub:
    """Routes quotes to subscribers and events to their owner's sockets only."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[Client] = set()
        self.by_account: dict[str, set[Client]] = {}
        self.by_symbol: dict[str, set[Client]] = {}
        self.dropped_slow = 0
        self.sent = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    # ------------------------------------------------------- from the engine
    def publish(self, events: list[dict[str, Any]], quotes: list[QuoteTuple]) -> None:
        """Called on the commit thread: hand over to the event loop, never block."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self.clients:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._dispatch, events, quotes)

    def _dispatch(self, events: list[dict[str, Any]], quotes: list[QuoteTuple]) -> None:
        if self.by_symbol:
            for sym, t, bid, ask in quotes:
                subs = self.by_symbol.get(sym)
                if subs:
                    msg = json.dumps({"type": "quote", "symbol": sym, "bid": fmt_price(bid),
                                      "ask": fmt_price(ask), "t": t})  # fmt: skip
                    self._send_all(subs, msg)
        if self.by_account:
            for ev in events:
                subs = self.by_account.get(ev.get("account"))  # type: ignore[arg-type]
                if subs:
                    self._send_all(subs, json.dumps(ev))

    def _send_all(self, clients: Iterable[Client], msg: str) -> None:
        for c in tuple(clients):
            try:
                c.queue.put_nowait(msg)
            except asyncio.QueueFull:
                self.dropped_slow += 1
                log.warning("dropping a slow WebSocket client (%d messages queued)", QUEUE_SIZE)
                self.drop(c, *SLOW)

    # ------------------------------------------------------------- sockets
    def send(self, client: Client, msg: str) -> None:
        """Queue one message for one socket (dropped as too slow if its queue is full)."""
        self._send_all((client,), msg)

    def add(self, client: Client) -> None:
        """Register a socket (on the event loop); one with a token is closed when it expires."""
        self.clients.add(client)
        if client.account is not None:
            self.by_account.setdefault(client.account, set()).add(client)
        if client.expires is not None:
            client.expiry = asyncio.get_running_loop().call_later(
                max(0.0, client.expires - time.time()), self.drop, client, 1008, "token expired"
            )

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        if client.expiry is not None:
            client.expiry.cancel()
            client.expiry = None
        if client.account is not None:
            subs = self.by_account.get(client.account)
            if subs is not None:
                subs.discard(client)
                if not subs:
                    del self.by_account[client.account]
        for sym in list(client.symbols):
            self.unsubscribe(client, sym)

    def subscribe(self, client: Client, symbol: str) -> None:
        client.symbols.add(symbol)
        self.by_symbol.setdefault(symbol, set()).add(client)

    def unsubscribe(self, client: Client, symbol: str) -> None:
        client.symbols.discard(symbol)
        subs = self.by_symbol.get(symbol)
        if subs is not None:
            subs.discard(client)
            if not subs:
                del self.by_symbol[symbol]

    def close_token(self, account: str, token_id: str, reason: str = "logged out") -> int:
        """Close (1008) the sockets opened with this token, e.g. at its logout; how many."""
        doomed = [c for c in self.by_account.get(account, ()) if c.token_id == token_id]
        for c in doomed:
            self.drop(c, 1008, reason)
        return len(doomed)

    def drop(self, client: Client, code: int, reason: str) -> None:
        """Stop delivering to a socket at once; its sender closes it with `code`."""
        if client.dropped:
            return
        client.dropped = True
        client.closing = (code, reason)
        self.remove(client)
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)  # tells the sender to close the socket

    async def sender(self, client: Client) -> None:
        """Drain one client's queue into its socket until it is dropped or fails."""
        ws = client.ws
        try:
            while True:
                msg = await client.queue.get()
                if client.expires is not None and time.time() >= client.expires:
                    self.drop(client, 1008, "token expired")  # the clock ran ahead of the timer
                if msg is None or client.dropped:
                    code, reason = client.closing
                    with contextlib.suppress(Exception):
                        await ws.close(code=code, reason=reason)
                    return
                await ws.send_text(msg)
                self.sent += 1
        except Exception:  # the socket went away: the receiver loop will notice
            return
