"""What the live runner knows of its account: open positions and pending orders, by ref.

The server names orders itself (a UUID); a strategy names them as in a backtest (`o1`,
`o2`... or its own `ref=`). The book maps one to the other, so the events a strategy is
handed, its `positions()` and its `pending` carry its own refs (the server's id is the
event's `id`). It is kept from the account's events over /ws (`apply`: an event it has
already seen, or one about an order it does not hold, is old news and dropped) and, after
the socket was down or an answer was lost, from what the server holds (`sync`): what
changed meanwhile comes back as events marked `"recovered": true`, built from the
server's orders (a position closed meanwhile from the history of that order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..money import fmt_decimal, fmt_money, fmt_qty, qty_units, to_units

log = logging.getLogger("workbench.live")
Event = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us(iso: str | None) -> int | None:
    """Engine time (µs) of the server's ISO 8601 UTC text."""
    if iso is None:
        return None
    d = datetime.fromisoformat(iso) - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def position_view(o: dict[str, Any], ref: str) -> dict[str, Any]:
    """The engine's position view (decimal text) of the server's open order."""
    return {
        "ref": ref, "symbol": o["asset"], "side": o["side"], "qty": o["qty"],
        "open_price": o["openingPrice"], "margin": o["margin"], "upnl": o.get("upnl"),
        "leverage": o["leverage"], "fee": o["fee"], "swap": o.get("swap") or "0",
        "take_profit": o.get("takeProfit"), "stop_loss": o.get("stopLoss"),
        "liquidation_price": o.get("liquidationPrice"),
        "trailing_stop": o.get("trailingStop"), "trailing_level": o.get("trailingLevel"),
        "opened_t": us(o["openedAt"]),
    }  # fmt: skip


def order_view(o: dict[str, Any], ref: str) -> dict[str, Any]:
    """The engine's pending order view (decimal text) of the server's pending order."""
    return {
        "ref": ref, "symbol": o["asset"], "side": o["side"], "kind": o["type"],
        "price": o["price"], "margin": o.get("margin"), "qty": o.get("qty"),
        "leverage": o["leverage"], "take_profit": o.get("takeProfit"),
        "stop_loss": o.get("stopLoss"), "trailing_stop": o.get("trailingStop"),
        "expires": us(o.get("expiresAt")), "placed_t": us(o["createdAt"]),
    }  # fmt: skip


def _d(text: str | None) -> Decimal:
    return Decimal(text) if text is not None else Decimal(0)


class Book:
    """The account's positions and pending orders, by the strategy's refs."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.local: dict[str, str] = {}  # server id -> the strategy's ref
        self.server: dict[str, str] = {}  # the strategy's ref -> server id
        self.positions: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}  # in placement order
        self.done: set[str] = set()  # refs closed or cancelled
        self.brackets: dict[str, tuple[Any, Any]] = {}  # TP/SL sent with an open

    # ------------------------------------------------------------------ refs
    def bind(self, server_id: str, ref: str) -> None:
        self.local[server_id] = ref
        self.server[ref] = server_id

    def ref(self, server_id: str) -> str:
        return self.local.get(server_id, server_id)

    def id(self, ref: str) -> str:
        return self.server.get(ref, ref)

    def knows(self, server_id: str) -> bool:
        return server_id in self.local

    def ids(self) -> set[str]:
        """Every server id the book has heard of."""
        return set(self.local) | {self.id(r) for r in (*self.positions, *self.pending, *self.done)}

    def _event(self, kind: str, t: int | None, sid: str, **fields: Any) -> Event:
        ev: Event = {"seq": None, "t": t, "type": kind, "account": self.account,
                     "ref": self.ref(sid), **fields, "recovered": True}  # fmt: skip
        if ev["ref"] != sid:
            ev["id"] = sid
        return ev

    # ---------------------------------------------------------------- events
    def apply(self, raw: Event) -> Event | None:
        """A server event of this account in the strategy's refs, with the book updated;
        None when it is old news (already applied, or about an order the book lacks)."""
        sid = raw.get("ref")
        ev = dict(raw)
        if sid is not None:
            ev["ref"] = self.ref(sid)
            if ev["ref"] != sid:
                ev["id"] = sid
        ref, kind = ev.get("ref"), ev["type"]
        if kind == "rejected":  # a command's rejection comes with its REST answer
            return None
        if kind == "opened":
            if ref in self.positions or ref in self.done:
                return None
            self._opened(ev)
        elif kind == "order_placed":
            if ref in self.pending or ref in self.positions or ref in self.done:
                return None
            self.pending[ref] = _placed(ev)
        elif kind == "order_cancelled":
            if self.pending.pop(ref, None) is None:
                return None
            self.done.add(ref)
        elif kind == "closed":
            if self.positions.pop(ref, None) is None:
                return None
            self.done.add(ref)
        elif kind == "reduced":
            pos = self.positions.get(ref)
            if pos is None or qty_units(pos["qty"]) <= qty_units(ev["remaining_qty"]):
                return None
            _reduce(pos, ev["qty"])
        elif kind == "modified":
            self._modified(ev)
        elif kind == "swap" and ref in self.positions:
            pos = self.positions[ref]
            pos["swap"] = fmt_money(_money(pos["swap"]) + _money(ev["amount"]))
        return ev

    def _opened(self, ev: Event) -> None:
        ref = ev["ref"]
        before = self.pending.pop(ref, None) or {}
        tp, sl = self.brackets.pop(ref, (before.get("take_profit"), before.get("stop_loss")))
        self.positions[ref] = {
            "ref": ref, "symbol": ev["symbol"], "side": ev["side"], "qty": ev["qty"],
            "open_price": ev["price"], "margin": ev["margin"], "upnl": "0",
            "leverage": ev["leverage"], "fee": ev["fee"], "swap": "0", "take_profit": tp,
            "stop_loss": sl, "liquidation_price": None,
            "trailing_stop": ev.get("trailing_stop"), "trailing_level": None,
            "opened_t": ev["t"],
        }  # fmt: skip

    def _modified(self, ev: Event) -> None:
        view = self.positions.get(ev["ref"]) or self.pending.get(ev["ref"])
        if view is None:
            return
        for key in ("take_profit", "stop_loss", "trailing_stop", "price", "expires"):
            if key in ev and key in view:
                view[key] = ev[key]

    # ------------------------------------------------------------------ sync
    def load(self, open_orders: list[dict[str, Any]], pending: list[dict[str, Any]]) -> list[Event]:
        """The account as the run finds it: what it holds, as `opened` and `order_placed`
        events (recovered) for the run's record; the strategy is not handed these."""
        out = []
        for o in open_orders:
            view = position_view(o, self.ref(o["id"]))
            self.positions[view["ref"]] = view
            out.append(self._event("opened", view["opened_t"], o["id"], **_opened_fields(o)))
        for o in pending:
            view = order_view(o, self.ref(o["id"]))
            self.pending[view["ref"]] = view
            out.append(self._event("order_placed", view["placed_t"], o["id"], **_placed_fields(o)))
        return out

    def sync(
        self, open_orders: list[dict[str, Any]], pending: list[dict[str, Any]],
        fetch: Callable[[str], dict[str, Any] | None], now: int,
        expected: list[str] = (),  # type: ignore[assignment]
    ) -> list[Event]:  # fmt: skip
        """What changed on the server that the book missed, as recovered events in time
        order, applied to the book. `fetch(id)`: one order of the account (None if none);
        `expected`: server ids of commands whose answer was lost (found by reading back)."""
        opened = {o["id"]: o for o in open_orders}
        waiting = {o["id"]: o for o in pending}
        out: list[Event] = []
        for ref, view in list(self.pending.items()):
            sid = self.id(ref)
            if sid in waiting:
                view.update(order_view(waiting[sid], ref))
            elif sid in opened:
                out.append(self._fill(view, opened[sid]))
            else:
                out += self._gone_order(view, sid, fetch(sid), now)
        for ref in list(self.positions):
            sid = self.id(ref)
            if sid in opened:
                out += self._still_open(ref, opened[sid])
            else:
                out += self._gone_position(ref, sid, fetch(sid))
        for sid, o in waiting.items():  # placed, and the book never heard of it
            new = self.ref(sid) not in self.pending and self.ref(sid) not in self.done
            if new and (self.knows(sid) or sid in expected):
                ev = self._event("order_placed", us(o["createdAt"]), sid, **_placed_fields(o))
                self.pending[ev["ref"]] = order_view(o, ev["ref"])
                out.append(ev)
        for sid in [*opened, *expected]:  # opened (maybe closed since) unheard of
            ref = self.ref(sid)
            if ref in self.positions or ref in self.done or ref in self.pending:
                continue
            if not self.knows(sid) and sid not in expected:
                continue  # someone else's order on this account: its own business
            o = opened.get(sid) or fetch(sid)
            if o is not None and o.get("status") in ("open", "closed"):
                out += self._appeared(sid, o)
        out.sort(key=lambda e: e["t"] or 0)
        return out

    def _fill(self, view: dict[str, Any], o: dict[str, Any]) -> Event:
        sid = self.id(view["ref"])
        ev = self._event("opened", us(o["openedAt"]), sid, **_opened_fields(o),
                         order=view["kind"])  # fmt: skip
        self.pending.pop(view["ref"], None)
        self.positions[view["ref"]] = position_view(o, view["ref"])
        return ev

    def _gone_order(
        self, view: dict[str, Any], sid: str, o: dict[str, Any] | None, now: int
    ) -> list[Event]:
        """A pending order no longer waiting: filled (and closed since) or cancelled."""
        if o is not None and o.get("status") == "closed":  # its fees together go on its close
            ev = self._fill(view, dict(o, fee="0"))
            return [ev, *self._gone_position(view["ref"], sid, o)]
        self.pending.pop(view["ref"], None)
        self.done.add(view["ref"])
        expired = view.get("expires") is not None and view["expires"] <= now
        reason = (o or {}).get("cancelReason") or ("expired" if expired else "cancelled")
        t = us((o or {}).get("cancelledAt")) or (view["expires"] if expired else now)
        return [self._event("order_cancelled", t, sid, reason=reason)]

    def _still_open(self, ref: str, o: dict[str, Any]) -> list[Event]:
        pos = self.positions[ref]
        out = []
        have, now_qty = qty_units(pos["qty"]), qty_units(o["qty"])
        if now_qty < have:  # reduced meanwhile (not by this run: its answers say so)
            log.warning(
                "%s was reduced from %s to %s while the socket was down; the part's figures "
                "are in the server's history", ref, pos["qty"], o["qty"],
            )  # fmt: skip
        pos.update(position_view(o, ref))
        return out

    def _gone_position(self, ref: str, sid: str, o: dict[str, Any] | None) -> list[Event]:
        """A position the server no longer holds open: closed, from its order's history."""
        pos = self.positions.pop(ref, None)
        self.done.add(ref)
        if o is None or o.get("status") != "closed":
            log.warning("%s is no longer open and the server has no record of it", ref)
            return []
        out = []
        fee = _d(o.get("fee")) - _d(pos["fee"] if pos else o.get("fee"))
        pnl = _d(o.get("pnl"))
        left = pos["qty"] if pos else o["qty"]
        for part in o.get("reductions") or []:
            fee -= _d(part["fee"])
            pnl -= _d(part["pnl"])
            if qty_units(part["remainingQty"]) < qty_units(left):  # a part the run missed
                out.append(self._event(
                    "reduced", us(part["at"]), sid, reason="manual", price=part["price"],
                    qty=part["qty"], pnl=part["pnl"], fee=part["fee"], balance=part["balance"],
                    remaining_qty=part["remainingQty"],
                ))  # fmt: skip
                left = part["remainingQty"]
        out.append(self._event(
            "closed", us(o["closedAt"]), sid, reason=o["closeReason"], price=o["closingPrice"],
            pnl=_text(pnl), fee=_text(max(fee, Decimal(0))), balance=None,
        ))  # fmt: skip
        return out

    def _appeared(self, sid: str, o: dict[str, Any]) -> list[Event]:
        ref = self.ref(sid)
        if o["status"] == "open":
            self.positions[ref] = position_view(o, ref)
            return [self._event("opened", us(o["openedAt"]), sid, **_opened_fields(o))]
        # opened and closed unheard of: a closed order's fee is its fees together, so
        # they go on its close (the open's share is not kept apart on the server)
        opening = dict(o, fee="0")
        self.positions[ref] = position_view(opening, ref)
        ev = self._event("opened", us(o["openedAt"]), sid, **_opened_fields(opening))
        return [ev, *self._gone_position(ref, sid, o)]


def _placed(ev: Event) -> dict[str, Any]:
    g = ev.get
    return {
        "ref": ev["ref"], "symbol": ev["symbol"], "side": ev["side"], "kind": ev["kind"],
        "price": ev["price"], "margin": g("margin"), "qty": g("qty"),
        "leverage": ev["leverage"], "take_profit": g("take_profit"),
        "stop_loss": g("stop_loss"), "trailing_stop": g("trailing_stop"),
        "expires": g("expires"), "placed_t": ev["t"],
    }  # fmt: skip


def _reduce(pos: dict[str, Any], part: str) -> None:
    """A partial close of `part`: the engine frees margin * part // qty of the margin."""
    qty, p = qty_units(pos["qty"]), qty_units(part)
    margin = _money(pos["margin"])
    pos["qty"] = fmt_qty(qty - p)
    pos["margin"] = fmt_money(margin - margin * p // qty)


def _money(text: str) -> int:
    return to_units(text, 16, "money")


def _text(d: Decimal) -> str:
    return fmt_decimal(d)


def _opened_fields(o: dict[str, Any]) -> dict[str, Any]:
    out = {"symbol": o["asset"], "side": o["side"], "price": o["openingPrice"],
           "qty": o["qty"], "margin": o["margin"], "leverage": o["leverage"],
           "fee": o.get("fee") or "0"}  # fmt: skip
    if o.get("trailingStop") is not None:
        out["trailing_stop"] = o["trailingStop"]
    return out


def _placed_fields(o: dict[str, Any]) -> dict[str, Any]:
    out = {"symbol": o["asset"], "side": o["side"], "kind": o["type"], "price": o["price"],
           "leverage": o["leverage"]}  # fmt: skip
    for src, dst in (("margin", "margin"), ("qty", "qty"), ("takeProfit", "take_profit"),
                     ("stopLoss", "stop_loss"), ("trailingStop", "trailing_stop")):  # fmt: skip
        if o.get(src) is not None:
            out[dst] = o[src]
    if o.get("expiresAt") is not None:
        out["expires"] = us(o["expiresAt"])
    return out
