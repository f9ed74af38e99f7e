"""A strategy's command sent to the server over REST exactly once.

A call either has an answer (the server's JSON, or its refusal), or it failed before
reaching the server (the connection was refused: it is sent again once the server is
back), or its answer was lost (the connection broke after the request went out, say the
server was killed): then the server may have run it or not, so nothing is sent again
before the server's state is read back (`read_back`): an open or a pending order placed
since the call, of the same instrument, side, size and leverage; a position closed or
reduced by the part; a pending order gone. Only when the command is not there is it sent
again. (A modify sets values, so sending it twice is harmless.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from ..client import ApiError
from .live_book import us
from .live_link import FIRST_DELAY, MAX_DELAY, Rest

log = logging.getLogger("workbench.live")
SETTLE = 0.5  # seconds between a lost answer and reading the server's state back


@dataclass
class Call:
    """One command as a REST call: `kind` open, order, close, cancel or modify."""

    kind: str
    method: str
    path: str
    body: dict[str, Any] | None
    target: str | None = None  # the server id a close, cancel or modify is about
    before: str | None = None  # a partial close: the position's qty before it
    since: int = 0  # engine time when it was sent: what it places is not older
    seen: set[str] = field(default_factory=set)  # server ids known before it was sent


@dataclass
class Outcome:
    """What became of a call: `ok` (answer), `refused` (error), `found` (answer read back
    after the first was lost), `unsent` (the server could not be reached) or `lost` (sent,
    and the server could not be asked whether it ran it)."""

    status: str
    answer: dict[str, Any] | None = None
    error: ApiError | None = None
    why: str = ""


def send(rest: Rest, call: Call, patience: float, stopping: threading.Event) -> Outcome:
    """Send `call` once (see the module docstring); waits up to `patience` seconds for a
    server that cannot be reached."""
    deadline = time.monotonic() + patience
    delay = FIRST_DELAY
    sent = False  # a request went out whose answer was lost
    renewed = False
    while True:
        try:
            if sent:
                found = read_back(rest, call)
                if found is not None:
                    return Outcome("found", found)
                log.info("%s %s: not on the server after its answer was lost: sending it "
                         "again", call.kind, call.target or "")  # fmt: skip
            return Outcome("ok", rest.raw(call.method, call.path, json=call.body))
        except ApiError as e:
            if e.status == 401 and not renewed and rest.renew():
                renewed = True
                continue
            if e.status < 500:
                return Outcome("refused", error=e)
            why = f"{e.status} {e.message}"
            sent = True
        except ConnectionError as e:  # the connection was refused: nothing went out
            why = str(e)
        except httpx.TransportError as e:  # went out, answer lost (or a read-back failed)
            why = f"{type(e).__name__}: {e}"
            sent = True
        if time.monotonic() >= deadline or stopping.is_set():
            return Outcome("lost" if sent else "unsent", why=why)
        wait = max(delay, SETTLE) if sent else delay  # a request on its way lands first
        log.warning("%s: %s; trying again in %.2f s", call.kind, why, wait)
        if stopping.wait(wait):
            return Outcome("lost" if sent else "unsent", why=why)
        delay = min(delay * 2, MAX_DELAY)


def read_back(rest: Rest, call: Call) -> dict[str, Any] | None:
    """The answer the lost call would have had, from the server's state; None if the
    server did not run it."""
    if call.kind in ("open", "order"):
        o = _placed(rest, call)
        if o is None:
            return None
        return {"orderId": o["id"], "order": o}
    if call.kind == "modify":
        return None  # setting values twice changes nothing: send it again
    assert call.target is not None
    if call.kind == "cancel":
        still = rest.find(f"/trade/pending/{call.target}")
        return None if still is not None else {"order": None}
    o = rest.find(f"/trade/orders/{call.target}")
    if o is None:
        return None
    if o["status"] == "closed":
        return {"order": o}
    part = None if call.body is None else call.body.get("qty")
    if call.before is None or part is None:
        return None
    done = Decimal(o["qty"]) == Decimal(call.before) - Decimal(part)  # the part is gone
    return {"order": o, "reduced": None} if done else None


def _placed(rest: Rest, call: Call) -> dict[str, Any] | None:
    """An order placed since `call.since` that the run does not know, like `call.body`."""
    body = call.body or {}
    rows = list(rest.get("/trade/pending")["orders"]) + list(rest.get("/trade/orders")["orders"])
    for o in rows:
        when = us(o.get("createdAt") or o.get("openedAt")) or 0
        if o["id"] in call.seen or when < call.since or not _same(o, body):
            continue
        if call.kind == "order" and "type" in o and o["type"] != body.get("type"):
            continue
        return dict(o)
    return None


def _same(o: dict[str, Any], body: dict[str, Any]) -> bool:
    if o["side"] != body["side"] or o["asset"] != body["asset"]:
        return False
    for mine, theirs in (("leverage", "leverage"), ("qty", "qty"), ("margin", "margin")):
        if body.get(mine) is not None and not _eq(o.get(theirs), body[mine]):
            return False
    return not (
        "price" in o and body.get("price") is not None and not _eq(o["price"], body["price"])
    )


def _eq(a: Any, b: Any) -> bool:
    return a is not None and Decimal(str(a)) == Decimal(str(b))


def answer_event(
    kind: str, ans: dict[str, Any], event: Callable[..., dict[str, Any]]
) -> dict[str, Any] | None:
    """The event a partial close's or a modify's REST answer stands for, when /ws did not
    bring it (the others are read back from the server's orders): `event(type, t,
    server_id, **fields)` builds one."""
    o = ans.get("order")
    if o is None:
        return None
    if kind == "close" and ans.get("reduced") is not None:
        r = ans["reduced"]
        return event("reduced", us(r["at"]), o["id"], reason="manual", price=r["price"],
                     qty=r["qty"], pnl=r["pnl"], fee=r["fee"], balance=r["balance"],
                     remaining_qty=r["remainingQty"])  # fmt: skip
    if kind == "modify":
        fields = {"take_profit": o.get("takeProfit"), "stop_loss": o.get("stopLoss"),
                  "trailing_stop": o.get("trailingStop")}  # fmt: skip
        if o.get("status") == "pending":
            fields.update(price=o["price"], expires=us(o.get("expiresAt")))
        return event("modified", None, o["id"], **fields)
    return None


#: a command's fields and the API's names for them
API_NAMES = {"symbol": "asset", "take_profit": "takeProfit", "stop_loss": "stopLoss",
             "trailing_stop": "trailingStop", "expires": "expiresAt"}  # fmt: skip


def to_call(rec: dict[str, Any], target: str | None, before: str | None) -> Call:
    """The REST call of a command record (as a backtest records it): `target` is the
    server id of the position or order a close, cancel or modify names."""
    kind = rec["type"]
    fields = {k: v for k, v in rec.items() if k not in ("type", "account", "ref")}
    body: dict[str, Any] | None = {}
    for key, value in fields.items():
        if key == "expires" and value is not None:
            value = format(Decimal(value).scaleb(-6), "f")  # µs -> epoch seconds
        body[API_NAMES.get(key, key)] = value  # type: ignore[index]
    if kind == "open":
        return Call(kind, "POST", "/trade/orders", {**body, "type": "market"})  # type: ignore[dict-item]
    if kind == "order":
        body["type"] = body.pop("kind")  # type: ignore[union-attr]
        return Call(kind, "POST", "/trade/orders", body)
    assert target is not None
    target = quote(target, safe="")
    if kind == "close":
        return Call(kind, "POST", f"/trade/close/{target}", body or None, target,
                    before if body else None)  # fmt: skip
    if kind == "cancel":
        return Call(kind, "DELETE", f"/trade/pending/{target}", None, target)
    return Call(kind, "PATCH", f"/trade/orders/{target}", body, target)
