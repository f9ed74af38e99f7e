"""Prices in each instrument's tick size, and the colour of a signed money figure.

Pure functions for the dashboards' tables, notifications and answers. A price keeps the
decimals of its instrument's tick ("60170.30" with a 0.01 tick, not "60170.3"); a price
that is not on the tick grid (a liquidation price) is shown at the tick where it takes
effect. A money figure is coloured by what is shown: "+0.00" is neutral, whatever
fraction of a cent lies behind it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from workbench.money import PRICE_DP, fmt_price

CENT = Decimal("0.01")
Ticks = Mapping[str, Decimal]  # symbol -> tick size (the engine's instrument rules)


def decimals(tick: Decimal) -> int:
    """How many decimals a price of this tick size shows (0.1 -> 1, 0.25 -> 2, 5 -> 0)."""
    exp = tick.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def text_decimals(text: str) -> int:
    """The decimals of a price as the engine wrote it (padded to its tick's)."""
    return len(text.partition(".")[2])


def price_units(units: int, tick: Decimal | None) -> str:
    """A quote's price (ints of 1e-8) with its tick's decimals."""
    return fmt_price(units, decimals(tick) if tick is not None else 0)


def on_tick(value: str | Decimal | None, tick: Decimal | None, rounding: str = ROUND_HALF_UP,
            dp: int | None = None) -> str:  # fmt: skip
    """`value` on the tick grid (rounded as asked) with the tick's decimals; "—" for none.

    Without a tick, `dp` decimals (or the value's own, at most the engine's 8)."""
    if value is None or value == "":
        return "—"
    try:
        d = Decimal(value)
    except InvalidOperation:
        return str(value)
    if tick is not None and tick > 0:
        d = (d / tick).to_integral_value(rounding) * tick
        dp = decimals(tick)
    elif dp is None:
        dp = min(text_decimals(format(d, "f")), PRICE_DP)
    return f"{d.quantize(Decimal(1).scaleb(-dp), rounding):f}"


def liquidation(value: str | None, side: str, tick: Decimal | None, dp: int | None) -> str:
    """A liquidation price at the tick where it fires: a long's when the bid is at or
    below it (rounded down), a short's when the ask is at or above it (rounded up)."""
    return on_tick(value, tick, ROUND_FLOOR if side == "long" else ROUND_CEILING, dp)


def price(value: str | None, symbol: str, ticks: Ticks) -> str:
    """A price the engine wrote (on the grid), padded to its instrument's decimals."""
    if value is None or value == "":
        return "—"
    tick = ticks.get(symbol)
    if tick is None:
        return str(value)
    return on_tick(value, tick)


def cents(value: Decimal | str) -> Decimal:
    """Money as it is shown: to the cent, half up, never -0.00."""
    d = Decimal(value).quantize(CENT, ROUND_HALF_UP)
    return abs(d) if d == 0 else d


def sign_class(value: Decimal | str | None) -> str:
    """The class of a money figure by its value as shown to the cent: profit, loss or
    "" (neutral)."""
    if value is None:
        return ""
    d = cents(value)
    return "profit" if d > 0 else "loss" if d < 0 else ""


PROFIT_COLOR = "#26a69a"
LOSS_COLOR = "#ef5350"


def colored(text: object) -> str:
    """A signed money text ("+12.35", "-0.80", "+0.00") as HTML for a table cell with
    Tabulator's html formatter: green, red or neutral by the figure shown. The colour
    travels with the cell's text: a table's cell styles are patched by row number, which
    after a row is removed names rows that are gone ("Find Error - No matching row
    found") and left a reused cell red."""
    text = str(text)
    try:
        cls = sign_class(text.replace(",", "").replace("%", "").strip())
    except (InvalidOperation, ValueError):
        cls = ""
    color = PROFIT_COLOR if cls == "profit" else LOSS_COLOR if cls == "loss" else "inherit"
    sign = cls or "neutral"
    return f'<span style="color: {color}" data-sign="{sign}">{html.escape(text)}</span>'


HTML = {"type": "html"}  # Tabulator's formatter for the `colored` columns
