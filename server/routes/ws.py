"""`/ws`: quotes of the instruments a client subscribes to; with a token, its own events.

Client messages: `{"subscribe": ["BTC_USDC"]}`, `{"unsubscribe": [...]}`. Server messages:
`{"type": "welcome", ...}` first, then `{"type": "quote", "symbol", "bid", "ask", "t"}`
and the user's engine events as they happen (`opened`, `closed` with its reason,
`margin_call`, `deposit`, `reset`, ...), and `{"type": "error", "error"}` for a bad message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from ..hub import Client, Hub
from ..orders import symbol_of
from ..state import ServerState, ws_session

router = APIRouter()
MAX_MESSAGE = 4096
MAX_SYMBOLS = 64


@router.websocket("/ws")
async def ws_endpoint(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.server
    try:
        session = ws_session(ws, state)
    except HTTPException as e:  # accepted first, so the client can read why
        await ws.accept()
        await ws.close(code=1008, reason=str(e.detail)[:120])
        return
    await ws.accept()
    hub = state.hub
    client = Client(ws, session.account if session else None)
    hub.add(client)
    sender = asyncio.create_task(hub.sender(client))
    known = await state.desk.symbols()
    try:
        await ws.send_text(json.dumps({
            "type": "welcome", "user": session.user.id if session else None,
            "symbols": known, "feed": state.feed_status().get("state"),
        }))  # fmt: skip
        while not client.dropped:
            text = await ws.receive_text()
            reply = _handle(hub, client, text, known)
            if reply is not None:
                client.queue.put_nowait(json.dumps(reply))
    except (WebSocketDisconnect, RuntimeError, asyncio.QueueFull):
        pass
    finally:
        hub.remove(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _handle(hub: Hub, client: Client, text: str, known: list[str]) -> dict | None:
    """Apply one client message; returns a reply (an error or an acknowledgement)."""
    if len(text) > MAX_MESSAGE:
        return {"type": "error", "error": f"message too long (over {MAX_MESSAGE} characters)"}
    try:
        msg = json.loads(text)
    except ValueError:
        return {"type": "error", "error": 'not JSON: send {"subscribe": ["BTC_USDC"]}'}
    if not isinstance(msg, dict) or not ({"subscribe", "unsubscribe"} & set(msg)):
        return {"type": "error", "error": 'send {"subscribe": [...]} or {"unsubscribe": [...]}'}
    for key, action in (("subscribe", hub.subscribe), ("unsubscribe", hub.unsubscribe)):
        names = msg.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return {"type": "error", "error": f"{key} takes a list of instrument names"}
        symbols = []
        for name in names:
            sym = symbol_of(name, known)
            if sym is None:
                return {"type": "error", "error": f"unknown instrument {name[:40]!r} "
                        f"(known: {', '.join(known)})"}  # fmt: skip
            symbols.append(sym)
        if key == "subscribe" and len(client.symbols | set(symbols)) > MAX_SYMBOLS:
            return {"type": "error", "error": f"at most {MAX_SYMBOLS} instruments per socket"}
        for sym in symbols:
            action(client, sym)
    return {"type": "subscribed", "symbols": sorted(client.symbols)}
