"""How the dashboards show engine figures: money to the cent, signed colours, tables.

Pure functions from the engine's views and events to text, HTML and DataFrames: no
rule of trading lives here, only presentation. Money stays Decimal until shown.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import panel as pn

from .numbers import Ticks, liquidation, price, sign_class, text_decimals

CENT = Decimal("0.01")

POSITION_COLUMNS = ["ref", "id", "symbol", "side", "qty", "open", "last", "upnl", "margin",
                    "leverage", "tp", "sl", "trailing", "liq"]  # fmt: skip
ORDER_COLUMNS = ["ref", "id", "symbol", "side", "kind", "price", "size", "leverage", "tp", "sl",
                 "trailing", "expires"]  # fmt: skip
HISTORY_COLUMNS = ["closed at", "symbol", "side", "qty", "open", "close", "pnl", "reason"]


def money(value: Decimal | str | None, sign: bool = False) -> str:
    """Money to the cent, half up, with thousands separators ("5,000.00", "+12.35")."""
    if value is None:
        return "—"
    d = Decimal(value).quantize(CENT, ROUND_HALF_UP)
    if d == 0:
        d = abs(d)  # no "-0.00"
    return f"{d:+,.2f}" if sign else f"{d:,.2f}"


def level(value: Decimal | None) -> str:
    return "—" if value is None else f"{Decimal(value).quantize(CENT, ROUND_HALF_UP):,.2f} %"


def signed_class(value: Decimal | str | None) -> str:
    """The CSS class of a money figure as shown to the cent ("+0.00" is neutral)."""
    return sign_class(value)


def clock(t_us: int | None) -> str:
    if t_us is None:
        return "—"
    return datetime.fromtimestamp(t_us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def account_html(figures: dict[str, Any], positions: list[dict[str, Any]]) -> str:
    """The account strip: balance, equity, margins, level and the open uPnL."""
    upnl = sum((Decimal(p["upnl"]) for p in positions), Decimal(0))
    cells = [
        ("Balance", money(figures["balance"]), ""),
        ("Equity", money(figures["equity"]), ""),
        ("Open P/L", money(upnl, sign=True), signed_class(upnl)),
        ("Used margin", money(figures["used_margin"]), ""),
        (
            "Free margin",
            money(figures["free_margin"]),
            signed_class(figures["free_margin"]) if Decimal(figures["free_margin"]) < 0 else "",
        ),  # fmt: skip
        ("Margin level", level(figures["margin_level"]), _level_class(figures["margin_level"])),
        ("Mode", html.escape(str(figures["margin_mode"])), ""),
    ]
    parts = "".join(
        f'<div class="fig"><div class="label">{k}</div>'
        f'<div class="value num {c}" data-field="{k.lower().replace(" ", "_")}">{v}</div></div>'
        for k, v, c in cells
    )
    return f'<div class="account-strip">{parts}</div>'


def _level_class(lvl: Decimal | None) -> str:
    if lvl is None:
        return ""
    return "loss" if lvl < 100 else "warn" if lvl < 200 else ""


def positions_frame(
    positions: list[dict[str, Any]], quotes: dict[str, Any], ticks: Ticks | None = None
) -> pd.DataFrame:
    """Open positions as text columns (exact, right-aligned by the table); prices with
    their instrument's tick decimals, the liquidation price at the tick where it fires."""
    rows = []
    ticks = ticks or {}
    for p in positions:
        q = quotes.get(p["symbol"])
        last = None
        if q is not None:
            last = q[0] if p["side"] == "long" else q[1]  # the side it would close at
        tick = ticks.get(p["symbol"])
        liq = liquidation(p["liquidation_price"], p["side"], tick,
                          text_decimals(p["open_price"]))  # fmt: skip
        rows.append({
            "ref": p["ref"], "id": p["ref"][:8], "symbol": p["symbol"], "side": p["side"],
            "qty": p["qty"],
            "open": p["open_price"], "last": last or "—", "upnl": money(p["upnl"], sign=True),
            "margin": money(p["margin"]), "leverage": f'{p["leverage"]}×',
            "tp": p["take_profit"] or "—", "sl": p["stop_loss"] or "—",
            "trailing": trailing(p.get("trailing_stop"), p.get("trailing_level")),
            "liq": liq,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=POSITION_COLUMNS)


def trailing(distance: str | None, level: str | None = None) -> str:
    """A trailing stop as "distance → level" ("—" for none)."""
    if distance is None:
        return "—"
    return f"{distance} → {level}" if level is not None else distance


def size(order: dict[str, Any]) -> str:
    """An order's size as it was given: a quantity, or a margin in USD."""
    return order["qty"] if order.get("qty") is not None else f"{money(order['margin'])} USD"


def orders_frame(orders: list[dict[str, Any]]) -> pd.DataFrame:
    """Pending orders (the engine's order views), in placement order."""
    return pd.DataFrame([_order_row(o) for o in orders], columns=ORDER_COLUMNS)


def _order_row(o: dict[str, Any]) -> dict[str, str]:
    expires = clock(o["expires"]) if o["expires"] is not None else "never"
    return {
        "ref": o["ref"], "id": o["ref"][:8], "symbol": o["symbol"], "side": o["side"],
        "kind": o["kind"], "price": o["price"], "size": size(o),
        "leverage": f'{o["leverage"]}×', "tp": o["take_profit"] or "—",
        "sl": o["stop_loss"] or "—", "trailing": trailing(o["trailing_stop"]),
        "expires": expires,
    }  # fmt: skip


def history_frame(orders: list[dict[str, Any]], ticks: Ticks | None = None) -> pd.DataFrame:
    """Closed orders (the REST API's order shape), newest first; prices to the tick."""
    ticks = ticks or {}
    rows = [
        {
            "closed at": (o["closedAt"] or "").replace("T", " ")[:19],
            "symbol": o["asset"],
            "side": o["side"],
            "qty": o["qty"],
            "open": price(o["openingPrice"], o["asset"], ticks),
            "close": price(o["closingPrice"], o["asset"], ticks),
            "pnl": money(o["pnl"], sign=True),
            "reason": o["closeReason"],
        }  # fmt: skip
        for o in orders
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


CSS = """
:host, body { --wb-profit: #26a69a; --wb-loss: #ef5350; --wb-warn: #ffb74d; }
.num { font-family: 'JetBrains Mono', 'DejaVu Sans Mono', monospace;
       font-variant-numeric: tabular-nums; text-align: right; }
.profit { color: #26a69a !important; }
.loss { color: #ef5350 !important; }
.warn { color: #ffb74d !important; }
.account-strip { display: flex; gap: 22px; flex-wrap: wrap; padding: 4px 2px; }
.account-strip .fig { min-width: 96px; }
.account-strip .label { font-size: 11px; opacity: .65; text-transform: uppercase;
                        letter-spacing: .04em; }
.account-strip .value { font-size: 17px; font-weight: 600; text-align: left; }
.feed-badge { display: inline-block; padding: 3px 10px; border-radius: 10px;
              font-weight: 700; font-size: 12px; letter-spacing: .06em; }
.feed-LIVE { background: #1b5e20; color: #c8e6c9; }
.feed-SIMULATED { background: #6d4c00; color: #ffe0b2; }
.feed-REPLAY { background: #0d47a1; color: #bbdefb; }
.feed-STARTING, .feed-STOPPED { background: #424242; color: #eee; }
.quote-box { font-size: 15px; }
.quote-box .bid { color: #ef5350; } .quote-box .ask { color: #26a69a; }
.neutral { color: inherit; }
.alerts { font-size: 13px; max-height: 150px; overflow-y: auto; }
.alerts > div { padding: 2px 6px; border-left: 3px solid transparent; }
.alerts .unread { border-left-color: #2962ff; font-weight: 600;
                  background: rgba(41, 98, 255, .12); }
.alerts .a-time { opacity: .6; font-weight: 400; margin-right: 6px; }
.confirm { color: #ffb74d; padding-top: 6px; }
.alerts .a-error { color: #ef5350; } .alerts .a-warning { color: #ffb74d; }
.alerts .a-success { color: #26a69a; } .alerts .a-info { opacity: .85; }
.ticket-msg-error { color: #ef5350; } .ticket-msg-ok { color: #26a69a; }
"""


def html_pane(obj: str = "", **kw: Any) -> pn.pane.HTML:
    """An HTML pane with the dashboard's styles (panes render in their own shadow DOM)."""
    return pn.pane.HTML(obj, stylesheets=[CSS], **kw)
