"""What the dashboards say about engine events: notifications, and the answer to a
command a person gave (the engine's own result, or its rejection reason and message).

`known` maps a ref to (symbol, what): for a position `what` is its side, for a pending
order its side, kind and price ("long limit at 59000"), since later events (`closed`,
`order_cancelled`) name only the ref.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from .numbers import sign_class
from .view import clock, money

Known = dict[str, tuple[str, str]]
CLOSE_REASONS = {"take_profit": "Take-profit filled", "stop_loss": "Stop-loss filled",
                 "trailing_stop": "Trailing stop filled", "liquidation": "Liquidated",
                 "stop_out": "Stopped out"}  # fmt: skip
BRACKETS = (("take_profit", "TP"), ("stop_loss", "SL"), ("trailing_stop", "trailing"))


def said_html(box: str, n: int, text: str, ok: bool) -> str:
    """An answer shown under a form (HTML, escaped by the caller); `data-n` counts the
    answers of `box` so that tests can wait for the n-th."""
    cls = "ticket-msg-ok" if ok else "ticket-msg-error"
    return (f'<div class="{cls}" data-ok="{str(ok).lower()}" data-box="{box}" '
            f'data-n="{n}">{text}</div>')  # fmt: skip


def order_what(o: dict[str, Any]) -> str:
    """A pending order in a few words: "long limit at 59000"."""
    return f"{o['side']} {o['kind']} at {o['price']}"


def _name(ev: dict[str, Any], known: Known) -> tuple[str, str]:
    return known.get(ev["ref"], ("order", ev["ref"][:8]))


def notice(ev: dict[str, Any], known: Known) -> tuple[str, str] | None:
    """(level, text) of an event worth a notification, else None."""
    kind = ev["type"]
    if kind == "closed":
        symbol, side = _name(ev, known)
        reason = ev.get("reason")
        what = CLOSE_REASONS.get(reason or "")
        if what is None:
            return None
        level = "error" if reason in ("liquidation", "stop_out") else _pnl_level(ev["pnl"])
        return level, f"{what}: {symbol} {side} at {ev['price']}, P/L {money(ev['pnl'], sign=True)}"
    if kind == "opened" and ev.get("order"):
        return "success", (f"{ev['order'].capitalize()} order filled: {ev['symbol']} "
                           f"{ev['side']} {ev['qty']} at {ev['price']}")  # fmt: skip
    if kind == "order_cancelled" and ev.get("reason") == "expired":
        symbol, what = _name(ev, known)
        return "warning", f"Order expired: {symbol} {what}"
    if kind == "order_cancelled" and ev.get("reason") not in ("cancelled", "reset"):
        symbol, what = _name(ev, known)
        why = ev.get("message") or ev.get("reason")
        return "error", f"Order not filled: {symbol} {what}: {why}"
    if kind == "margin_call":
        return "warning", f"Margin call: margin level {ev.get('margin_level') or '?'} %"
    return None


def _pnl_level(pnl: str) -> str:
    """A close's level by its P/L as shown: a gain success, a loss error, 0.00 info."""
    cls = sign_class(pnl)
    return "success" if cls == "profit" else "error" if cls == "loss" else "info"


def _by_pnl(text: str, pnl: str | Decimal) -> str:
    """An answer about a close, coloured by its P/L as shown (0.00 neutral)."""
    cls = sign_class(pnl) or "neutral"
    return f'<span class="{cls}" data-pnl-sign="{cls}">{text}</span>'


def answer(ev: dict[str, Any], known: Known) -> tuple[str, bool]:
    """(HTML, ok) of the engine's answer to a command."""
    e = {k: html.escape(str(v)) for k, v in ev.items()}
    kind = ev["type"]
    if kind == "rejected":
        return f"<b>{e['reason']}</b>: {e.get('message', '')}", False
    if kind == "opened":
        return (f"Opened {e['side']} {e['qty']} {e['symbol']} at {e['price']} "
                f"(margin {e['margin']})"), True  # fmt: skip
    if kind == "order_placed":
        size = e["qty"] if "qty" in ev else f"margin {money(ev['margin'])} USD"
        until = f", expires {clock(ev['expires'])} UTC" if ev.get("expires") else ""
        return (f"Placed {e['side']} {e['kind']} {e['symbol']} at {e['price']} "
                f"({size}{until})"), True  # fmt: skip
    symbol, what = (html.escape(x) for x in _name(ev, known))
    if kind == "order_cancelled":
        return f"Cancelled {symbol} {what}", True
    if kind == "closed":
        text = f"Closed {symbol} {what} at {e['price']}, P/L {money(ev['pnl'], sign=True)}"
        return _by_pnl(text, ev["pnl"]), True
    if kind == "reduced":
        return _by_pnl(
            f"Closed {e['qty']} of {symbol} {what} at {e['price']}: P/L "
            f"{money(ev['pnl'], sign=True)}, fee {money(ev['fee'])}; "
            f'<span data-remaining="{e["remaining_qty"]}">{e["remaining_qty"]} left</span>',
            ev["pnl"],
        ), True  # fmt: skip
    if kind == "modified":
        parts = [f"price {e['price']}"] if "price" in ev else []
        parts += [f"{name} {e[key] if ev.get(key) is not None else '—'}" for key, name in BRACKETS]
        if "expires" in ev:
            parts.append(f"expires {clock(ev['expires'])}" if ev["expires"] else "no expiry")
        return f"Changed {symbol} {what}: {', '.join(parts)}", True  # fmt: skip
    return html.escape(kind), True
