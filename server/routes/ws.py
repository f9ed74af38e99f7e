"""`/ws`: quotes of the instruments a client subscribes to; with a token, its own events.

Client messages: `{"subscribe": ["BTC_USDC"]}`, `{"unsubscribe": [...]}`. Server messages:
`{"type": "welcome", ...}` first, then `{"type": "quote", "symbol", "bid", "ask", "t"}`
and the user's engine events as they happen (`opened`, `closed` with its reason,
`margin_call`, `deposit`, `reset`, ...), and `{"type": "error", "error"}` for a bad message
(too long, too deeply nested, binary, not JSON, not one of those): the socket stays open.
A socket opened with a token closes with 1008 when the token is logged out or expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from starlette.types import Message

from ..hub import Client, Hub
from ..orders import symbol_of
from ..state import ServerState, ws_session

router = APIRouter()
log = logging.getLogger(__name__)
MAX_MESSAGE = 4096
MAX_DEPTH = 8  # {"subscribe": [...]} is 2 deep; json.loads recurses once per level
MAX_SYMBOLS = 64
USAGE = 'send {"subscribe": ["BTC_USDC"]} or {"unsubscribe": [...]}'


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
    known = await state.desk.symbols()
    if session is None:
        client = Client(ws, None)
    else:
        client = Client(ws, session.account, token_id=str(session.claims["jti"]),
                        expires=float(session.claims["exp"]))  # fmt: skip
    # the welcome is queued before the socket joins the hub: nothing is sent before it
    client.queue.put_nowait(json.dumps({
        "type": "welcome", "user": session.user.id if session else None,
        "symbols": known, "feed": state.feed_status().get("state"),
    }))  # fmt: skip
    hub.add(client)
    sender = asyncio.create_task(hub.sender(client))
    try:
        while not client.dropped:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            hub.send(client, json.dumps(_reply(hub, client, message, known)))
    except WebSocketDisconnect:
        pass
    except Exception:  # a bug of ours: logged, and the client gets a close frame saying so
        log.exception("/ws: closing a socket after an unexpected error")
        hub.drop(client, 1011, "internal error")
    finally:
        hub.remove(client)
        if not client.dropped:
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(sender, 5)  # a dropped socket's close frame goes out


def _reply(hub: Hub, client: Client, message: Message, known: list[str]) -> dict:
    """The answer to one received frame: an error for a binary one, else `_handle`'s."""
    text = message.get("text")
    if text is None:
        return {"type": "error", "error": f"binary frames are not accepted: {USAGE} as text"}
    return _handle(hub, client, text, known)


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _handle(hub: Hub, client: Client, text: str, known: list[str]) -> dict:
    """Apply one client message; returns a reply (an error or an acknowledgement)."""
    if len(text) > MAX_MESSAGE:
        return {"type": "error", "error": f"message too long (over {MAX_MESSAGE} characters)"}
    if _too_deep(text):
        return {"type": "error", "error": f"message nested too deeply (over {MAX_DEPTH} levels)"}
    try:
        msg = json.loads(text)
    except ValueError:
        return {"type": "error", "error": f"not JSON: {USAGE}"}
    if not isinstance(msg, dict) or not ({"subscribe", "unsubscribe"} & set(msg)):
        return {"type": "error", "error": USAGE}
    wanted: dict[str, list[str]] = {}
    for key in ("subscribe", "unsubscribe"):  # both checked before either is applied
        names = msg.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return {"type": "error", "error": f"{key} takes a list of instrument names"}
        wanted[key] = []
        for name in names:
            sym = symbol_of(name, known)
            if sym is None:
                return {"type": "error", "error": f"unknown instrument {name[:40]!r} "
                        f"(known: {', '.join(known)})"}  # fmt: skip
            wanted[key].append(sym)
    if len(client.symbols | set(wanted["subscribe"])) > MAX_SYMBOLS:
        return {"type": "error", "error": f"at most {MAX_SYMBOLS} instruments per socket"}
    for sym in wanted["subscribe"]:
        hub.subscribe(client, sym)
    for sym in wanted["unsubscribe"]:
        hub.unsubscribe(client, sym)
    return {"type": "subscribed", "symbols": sorted(client.symbols)}
