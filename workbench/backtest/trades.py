"""The engine's events of a run folded into rows: fills, trades, partial closes, orders.

A trade is one position from `opened` to `closed`: a position reduced (`reduced`, a
partial close) and then closed is ONE trade whose pnl and close fee are the sums over its
partial closes and its final close, whose `qty` is the qty it opened with and whose
`close_price` is the price of the final close; `reductions` counts its partial closes,
each of which is also a row of its own in `reductions` and a `reduce` fill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Row = dict[str, Any]


@dataclass
class Trades:
    """Rows (dicts) of every frame built from the events."""

    fills: list[Row] = field(default_factory=list)
    closed: list[Row] = field(default_factory=list)
    reductions: list[Row] = field(default_factory=list)
    orders: list[Row] = field(default_factory=list)


def fold(events: list[dict[str, Any]]) -> Trades:
    """Walk the events once, in engine order."""
    out = Trades()
    held: dict[tuple[str, str], Row] = {}  # open positions
    waiting: dict[tuple[str, str], Row] = {}  # pending orders (their `orders` rows)
    for ev in events:
        kind = ev["type"]
        if kind not in _KINDS:
            continue
        key = (ev["account"], ev["ref"])
        if kind == "order_placed":
            row = {
                **{k: ev.get(k) for k in _ORDER_FIELDS},
                "placed_t": ev["t"],
                "status": "pending",
                "reason": None,
                "end_t": None,
                "fill_price": None,
                "modified": 0,
            }
            out.orders.append(row)
            waiting[key] = row
        elif kind == "modified":
            row = waiting.get(key)
            if row is not None:  # a pending order's, not a position's
                row["price"], row["expires"] = ev["price"], ev["expires"]
                row["modified"] += 1
        elif kind == "order_cancelled":
            row = waiting.pop(key, None)
            if row is not None:
                row.update(status="cancelled", reason=ev["reason"], end_t=ev["t"])
        elif kind == "opened":
            order = ev.get("order", "market")
            row = waiting.pop(key, None) if "order" in ev else None
            if row is not None:
                row.update(status="filled", end_t=ev["t"], fill_price=ev["price"])
            held[key] = {
                **ev,
                "order": order,
                "swap": Decimal(0),
                "pnl": Decimal(0),
                "close_fee": Decimal(0),
                "written_off": None,
                "reductions": 0,
                "left": ev["qty"],
            }
            out.fills.append({**ev, "action": "open", "reason": None, "order": order})
        elif kind == "swap":
            pos = held.get(key)
            if pos is not None:
                pos["swap"] += Decimal(ev["amount"])
        else:  # reduced, closed
            pos = held[key] if kind == "reduced" else held.pop(key)
            _settle(pos, ev)
            action = "reduce" if kind == "reduced" else "close"
            qty = ev["qty"] if kind == "reduced" else pos["left"]
            fill = {**ev, "action": action, "symbol": pos["symbol"], "side": pos["side"]}
            fill["qty"] = qty
            out.fills.append(fill)
            if kind == "reduced":
                pos["left"] = ev["remaining_qty"]
                pos["reductions"] += 1
                out.reductions.append(
                    {**ev, "symbol": pos["symbol"], "side": pos["side"], "open_t": pos["t"]}
                )
            else:
                out.closed.append(_trade(pos, ev))
    return out


_KINDS = frozenset(
    ("order_placed", "modified", "order_cancelled", "opened", "swap", "reduced", "closed")
)
_ORDER_FIELDS = (
    "account", "ref", "symbol", "side", "kind", "price", "qty", "margin", "leverage",
    "take_profit", "stop_loss", "trailing_stop", "expires",
)  # fmt: skip


def _settle(pos: Row, ev: dict[str, Any]) -> None:
    """Add a close's or a partial close's pnl, fee and write-off to its position."""
    pos["pnl"] += Decimal(ev["pnl"])
    pos["close_fee"] += Decimal(ev["fee"])
    if "written_off" in ev:
        pos["written_off"] = (pos["written_off"] or Decimal(0)) + Decimal(ev["written_off"])


def _trade(pos: Row, ev: dict[str, Any]) -> Row:
    open_fee = Decimal(pos["fee"])
    pnl, fee = pos["pnl"], pos["close_fee"]
    return {
        "account": ev["account"],
        "ref": ev["ref"],
        "symbol": pos["symbol"],
        "side": pos["side"],
        "order": pos["order"],
        "qty": pos["qty"],
        "leverage": pos["leverage"],
        "margin": pos["margin"],
        "open_t": pos["t"],
        "open_price": pos["price"],
        "open_fee": open_fee,
        "close_t": ev["t"],
        "close_price": ev["price"],
        "reason": ev["reason"],
        "reductions": pos["reductions"],
        "pnl": pnl,
        "close_fee": fee,
        "swap": pos["swap"],
        "net": pnl - fee - open_fee - pos["swap"],
        "written_off": pos["written_off"],
    }
