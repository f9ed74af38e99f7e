"""What a person types into the dashboards' forms, turned into what the engine is sent.

Pure functions, no widgets: a number stays the text that was typed (the engine parses
it), an expiry becomes engine time, a share of a position becomes a quantity. Each
raises ValueError with a message a person can read when the text is not what it says.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QTY_STEP = Decimal("0.00000001")  # the engine's quantity step (8 decimals)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$", re.IGNORECASE)


def number(text: str, what: str, *, optional: bool = False) -> str | None:
    """The typed number as text (thousands commas dropped); None if empty and optional."""
    text = text.strip().replace(",", "")
    if not text:
        if optional:
            return None
        raise ValueError(f"{what} is empty")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what} must be a finite number")
    return text


def parse_expiry(text: str, now_us: int) -> int | None:
    """Engine time (µs) of an expiry typed as minutes from now ("15", or "30s", "2h",
    "1d") or as a UTC time ("2024-08-09 00:10" or with seconds); None if empty."""
    text = text.strip()
    if not text:
        return None
    m = _RELATIVE.match(text)
    if m:
        amount = Decimal(m.group(1))
        seconds = amount * _UNITS[(m.group(2) or "m").lower()]
        return now_us + int(seconds * 1_000_000)
    try:
        when = datetime.fromisoformat(re.sub(r"\s*UTC$", "", text, flags=re.IGNORECASE))
    except ValueError:
        raise ValueError(
            f"expiry {text!r} is neither minutes from now (15, 30s, 2h, 1d) nor a UTC "
            "time (YYYY-MM-DD HH:MM)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // timedelta(microseconds=1)


def expiry_text(t_us: int | None) -> str:
    """An expiry as the UTC time a person can type back (empty for none)."""
    if t_us is None:
        return ""
    when = datetime.fromtimestamp(t_us // 1_000_000, tz=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def part_qty(qty: str, percent: int) -> str:
    """`percent` of a position's quantity, rounded DOWN to the engine's 8 decimals (so a
    part never asks for more than the position holds); the whole quantity at 100."""
    if not 0 < percent <= 100:
        raise ValueError(f"a share of a position is 1 to 100 %, not {percent}")
    whole = Decimal(qty)
    if percent == 100:
        return qty
    part = (whole * percent / 100).quantize(QTY_STEP, rounding=ROUND_DOWN)
    return format(part.normalize(), "f") if part else "0"
