"""The price lines of a chart: each open position's entry, take profit, stop loss,
trailing-stop level and liquidation price, and each pending order's price.

Pure: from the engine's position and order views (decimal text) to the columns of one
Bokeh data source, one row a line, labelled with the engine's own price text.
"""

from __future__ import annotations

from typing import Any

from .numbers import liquidation, text_decimals

#: kind -> (colour, dash, width, label x): what a trader expects to read at a glance. The
#: labels of a kind share a column (screen px from the left), so that the labels of
#: lines close together (an entry and its trailing stop) do not cover each other.
STYLES: dict[str, tuple[str, str, float, int]] = {
    "entry": ("#9598a1", "solid", 1.2, 6),
    "pending": ("#42a5f5", "dotted", 1.8, 6),
    "tp": ("#26a69a", "solid", 1.5, 250),
    "sl": ("#ef5350", "solid", 1.5, 250),
    "liquidation": ("#b71c1c", "dashed", 1.5, 250),
    "trailing": ("#ff9800", "dashdot", 1.5, 420),
}
COLUMNS = ("y", "kind", "ref", "label", "color", "dash", "width", "x")
_BUY_SELL = {"long": "Buy", "short": "Sell"}


def empty() -> dict[str, list[Any]]:
    return {c: [] for c in COLUMNS}


def price_lines(
    positions: list[dict[str, Any]], orders: list[dict[str, Any]], symbol: str
) -> dict[str, list[Any]]:
    """The lines of `symbol`'s positions and pending orders, as data-source columns."""
    out = empty()

    def add(kind: str, ref: str, price: str | None, label: str) -> None:
        if price is None:
            return
        for col, v in zip(COLUMNS, (float(price), kind, ref, label, *STYLES[kind]),
                          strict=True):  # fmt: skip
            out[col].append(v)

    for p in positions:
        if p["symbol"] != symbol:
            continue
        ref, price = p["ref"], p["open_price"]
        add("entry", ref, price, f"{p['side'].capitalize()} {p['qty']} @ {price} · {ref[:8]}")
        add("tp", ref, p.get("take_profit"), f"TP {p.get('take_profit')}")
        add("sl", ref, p.get("stop_loss"), f"SL {p.get('stop_loss')}")
        trail = p.get("trailing_stop")
        add("trailing", ref, p.get("trailing_level"),
            f"Trailing {p.get('trailing_level')} ({trail} behind)")  # fmt: skip
        liq = p.get("liquidation_price")  # labelled at the tick where it fires
        shown = liquidation(liq, p["side"], None, text_decimals(price))
        add("liquidation", ref, liq, f"Liq. {shown}")
    for o in orders:
        if o["symbol"] != symbol:
            continue
        size = o["qty"] if o.get("qty") is not None else f"{o['margin']} USD"
        what = f"{_BUY_SELL[o['side']]} {o['kind']} {size}"
        add("pending", o["ref"], o["price"], f"{what} @ {o['price']} · {o['ref'][:8]}")
    return out
