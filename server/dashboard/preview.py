"""The order ticket's checks and preview: what it can send, and what the engine says the
order would give.

`read_draft` turns what was typed into an order, or says in plain words why it cannot
(an empty or non-numeric field); the engine's own rules (leverage range, side of the
market, margin) are checked by its preview (workbench/engine/preview.py), whose figures
or refusal `preview_html` shows. Pure functions: the widgets are the ticket's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .fields import number
from .messages import answer
from .numbers import liquidation, text_decimals
from .view import money

SIZE_WORDS = {"margin": "margin", "qty": "quantity"}


@dataclass(frozen=True)
class Draft:
    """An order as the ticket would send it: decimal text, exactly as typed."""

    side: str  # long or short
    kind: str  # market, limit or stop
    leverage: str
    price: str | None  # a limit or stop order's price
    sizes: dict[str, str | None] = field(default_factory=dict)  # margin|qty, TP, SL, trailing

    def preview_args(self) -> dict[str, Any]:
        """The keyword arguments of the engine's `preview` for this order."""
        return {"side": self.side, "leverage": self.leverage, "kind": self.kind,
                "price": self.price, **self.sizes}  # fmt: skip


def read_draft(typed: dict[str, str], side: str, kind: str, by_margin: bool) -> Draft:
    """The order in the ticket's fields (`typed`: field name -> text), or ValueError with a
    message a person can act on. Nothing is guessed: an empty leverage is not 10."""
    size_key = "margin" if by_margin else "qty"
    sizes: dict[str, str | None] = {
        size_key: _required(typed.get("amount", ""), SIZE_WORDS[size_key]),
        "take_profit": number(typed.get("tp", ""), "take profit", optional=True),
        "stop_loss": number(typed.get("sl", ""), "stop loss", optional=True),
        "trailing_stop": number(typed.get("trail", ""), "trailing stop", optional=True),
    }
    leverage = _required(typed.get("leverage", ""), "leverage")
    price = None
    if kind != "market":
        price = _required(typed.get("price", ""), f"the {kind} price")
    return Draft(side, kind, leverage, price, sizes)


def _required(text: str, what: str) -> str:
    value = number(text, what)
    if value is None:  # number() raises for an empty required field; this keeps mypy sure
        raise ValueError(f"{what} is empty")
    return value


def check_html(problem: str) -> str:
    """A problem with what was typed, shown under the ticket as you type."""
    return (f'<div class="ticket-msg-error preview" data-preview="refused">'
            f"{html.escape(problem)}</div>")  # fmt: skip


def preview_html(p: dict[str, Any]) -> str:
    """The engine's preview: the figures (exact in data-* attributes, money to the cent
    on screen; `data-pv-*`), and its refusal when it would refuse the order."""
    refusal = ""
    if not p["ok"]:
        text, _ = answer({"type": "rejected", "reason": p["reason"], "message": p["message"]}, {})
        why = html.escape(p["reason"])
        refusal = f'<div class="ticket-msg-error" data-preview-refusal="{why}">{text}</div>'
    if "qty" not in p:  # refused before it could be sized
        return f'<div class="preview" data-preview="refused">{refusal}</div>'
    pending = p["kind"] != "market"
    free_after = Decimal(p["free_margin_after"])
    liq = p["liquidation_price"]
    if liq is not None:  # shown at the tick where it fires (the exact one in data-pv-*)
        liq = liquidation(liq, p["side"], None, text_decimals(p["price"]))
    rows = [
        ("if filled at" if pending else "fills at", p["price"], "price"),
        ("quantity", p["qty"], "qty"),
        ("margin", f"{money(p['margin'])} USD", "margin"),
        ("fee", f"{money(p['fee'])} USD", "fee"),
        ("free margin after", f"{money(free_after)} USD", "free_margin_after"),
        ("liquidation", liq if liq is not None else "— (cross: the account's stop-out)",
         "liquidation_price"),
    ]  # fmt: skip
    short = " loss" if free_after < 0 else ""
    cells = "".join(
        f'<div class="pv-label">{label}</div><div class="num pv-value'
        f'{short if key == "free_margin_after" else ""}" data-pv="{key}">{html.escape(text)}</div>'
        for label, text, key in rows
    )
    exact = ("price", "qty", "margin", "fee", "free_margin_after", "liquidation_price")
    attrs = " ".join(
        f'data-pv-{key.replace("_", "-")}="{html.escape(str(p[key] or ""))}"' for key in exact
    )
    state = "ok" if p["ok"] else "refused"
    return (f'<div class="preview" data-preview="{state}" {attrs}>'
            f'<div class="pv-grid">{cells}</div>{refusal}</div>')  # fmt: skip


CSS = """
.preview { font-size: 12px; margin-top: 2px; }
.preview .pv-grid { display: grid; grid-template-columns: auto auto; column-gap: 10px;
                    row-gap: 1px; }
.preview .pv-label { opacity: .65; }
.preview .pv-value { text-align: right; }
"""
