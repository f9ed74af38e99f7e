"""Holes of bokeh-fastapi closed: the WebSocket Origin, and sessions that never end.

(Sessions bound to their browser, and bad tokens, are `sessions.py`'s.)

* `OriginGuard` refuses a browser WebSocket from a foreign page (HTTP 403, before the
  socket is accepted): bokeh-fastapi never calls its own `check_origin`, so without this
  any site a logged-in user visits could drive their dashboard session.
* `destroy_lost_sessions()` makes a closed browser tab end its session: bokeh-fastapi's
  receive loop swallows the disconnect and never calls `client_lost`, so the session
  would live (and be pushed to) forever.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


def _netloc(origin: str) -> str:
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


class OriginGuard:
    """Refuse WebSockets whose Origin is neither this host nor an allowed origin."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {_netloc(o) for o in allowed if _netloc(o)}
        self.refused = 0

    def allows(self, headers: dict[bytes, bytes], scheme: str) -> bool:
        origin = headers.get(b"origin")
        if origin is None:
            return True  # not a browser: a browser always sends Origin on a WebSocket
        seen = _netloc(origin.decode("latin-1"))
        if not seen:
            return False  # "null" (sandboxed frames, files) or garbage
        host = headers.get(b"host", b"").decode("latin-1").lower()
        http = "https" if scheme in ("wss", "https") else "http"
        return seen == f"{http}://{host}" or seen in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers") or [])
            if not self.allows(headers, scope.get("scheme", "ws")):
                self.refused += 1
                log.warning("refused a WebSocket to %s from foreign origin %r", scope.get("path"),
                            headers.get(b"origin", b"").decode("latin-1"))  # fmt: skip
                await send({"type": "websocket.close", "code": 1008,
                            "reason": "foreign origin"})  # fmt: skip
                return
        await self.app(scope, receive, send)


_patched = False


def destroy_lost_sessions() -> None:
    """Patch bokeh-fastapi's socket handler to tell Bokeh when a browser has gone."""
    global _patched
    if _patched:
        return
    from bokeh_fastapi.handler import WSHandler

    original = WSHandler.ws_connect

    @functools.wraps(original)
    async def ws_connect(self: Any, websocket: Any) -> None:
        try:
            await original(self, websocket)
        finally:
            connection = getattr(self, "connection", None)
            if connection is not None:
                self.application.client_lost(connection)

    WSHandler.ws_connect = ws_connect
    _patched = True


def no_remote_fonts() -> None:
    """Drop the Google Fonts stylesheet Panel's Fast design links: the pages load nothing
    from other sites (their Content-Security-Policy would block it, and it tells Google who
    opens the dashboard). The font falls back to the browser's sans-serif."""
    from panel.theme.fast import Fast

    Fast._resources = {k: v for k, v in Fast._resources.items() if k != "font"}
