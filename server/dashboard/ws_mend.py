"""bokeh-fastapi's page sockets, mended where a page's connection drops or comes back.

* Handled after its socket was let go. A push that fails because the browser has gone
  (killed, network lost) makes bokeh-fastapi detach the socket from its session, but its
  receive loop goes on handling what the browser had sent before: each such message
  reads the detached session (`AssertionError` in `ServerConnection.session`, a
  traceback per message), and the loop runs on until `receive` fails. The same after
  the handler closed a socket itself (with close codes 10000 and 10001, which the
  WebSocket protocol does not allow). Now the loop ends as soon as the socket is let go
  or closed, and closes with 1011 and 1002.
* A session built from its socket. A socket may name a session the server no longer
  has: it ended as unused before the socket came (a loaded server), or the page was
  served by a server since restarted. Bokeh then builds the session from the socket's
  request, and bokeh-fastapi hands it the raw ASGI scope, without the `protocol`, `host`
  and `uri` that Panel reads (`AttributeError: 'super' object has no attribute
  '__getattr__'`, and a page that never loads). The scope now carries them, as for
  the page: its scheme, its host and the page's path (the socket's path without `/ws`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

_mended = False


def mend_page_sockets() -> None:
    """Patch bokeh-fastapi's `WSHandler` (once): see the module docstring."""
    global _mended
    if _mended:
        return
    from bokeh_fastapi.handler import WSHandler

    opened = WSHandler._async_open

    @functools.wraps(opened)
    async def _async_open(self: Any, socket: Any, token: str) -> None:
        as_request(socket.scope)
        await opened(self, socket, token)

    WSHandler._async_open = _async_open
    WSHandler._receive_loop = _receive_loop
    WSHandler._internal_error = _internal_error
    WSHandler._protocol_error = _protocol_error
    _mended = True


def as_request(scope: dict[str, Any]) -> dict[str, Any]:
    """Give a socket's scope what Bokeh and Panel read of a page's request (Tornado's
    names): `protocol`, `host` and `uri` (the page's path and query)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    path = str(scope.get("path", ""))
    page = path.removesuffix("/ws") or "/"
    query = bytes(scope.get("query_string") or b"").decode("latin-1")
    scope.setdefault("protocol", "https" if scope.get("scheme") in ("wss", "https") else "http")
    scope.setdefault("host", headers.get("host", ""))
    scope.setdefault("uri", page + (f"?{query}" if query else ""))
    return scope


def _gone(self: Any) -> bool:
    """Whether this socket was let go (its connection detached) or closed by us."""
    connection = self.connection
    return getattr(self, "_closing", False) or (
        connection is not None and connection._session is None
    )


async def _receive_loop(self: Any) -> None:
    """bokeh-fastapi's loop, ending when the socket ends, is let go or closed by us."""
    while not _gone(self):
        try:
            ws_msg = await self._socket.receive()
        except Exception:  # receive after the end (RuntimeError), a dropped transport
            return
        if ws_msg.get("type") == "websocket.disconnect" or _gone(self):
            return
        fragment = ws_msg.get("text")
        if fragment is None:
            fragment = ws_msg.get("bytes")
        if fragment is None:
            continue
        try:
            message = await self._receive(fragment)
        except Exception as e:
            log.error("Unhandled exception receiving a message: %r", e, exc_info=True)
            await self._internal_error("server failed to parse a message")
            return
        if not message or _gone(self):
            continue
        try:
            work = await self._handle(message)
            if work and not _gone(self):
                await self.send_message(work)
        except Exception as e:
            if _gone(self):  # the browser went while this was handled: nothing to answer
                return
            log.error("Handler or its work threw an exception: %r: %r", e, message,
                      exc_info=True)  # fmt: skip
            await self._internal_error("server failed to handle a message")
            return


async def _internal_error(self: Any, message: str) -> None:
    log.error("Bokeh Server internal error: %s, closing connection", message)
    await _close(self, 1011, message)
    self.on_close(1011, message)


async def _protocol_error(self: Any, message: str) -> None:
    log.error("Bokeh Server protocol error: %s, closing connection", message)
    await _close(self, 1002, message)


async def _close(self: Any, code: int, reason: str) -> None:
    self._closing = True
    with contextlib.suppress(Exception):  # gone already
        await self._socket.close(code, reason[:120])
