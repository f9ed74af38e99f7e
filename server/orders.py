"""The seed's order shape (id, userId, asset, side, qty, ...) from engine views and events."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from workbench.money import fmt_decimal

ASSETS = {"BTC": "BTC_USDC", "ETH": "ETH_USDC", "SOL": "SOL_USDC"}


def iso(t_us: int | None) -> str | None:
    """Engine time as ISO 8601 UTC with microseconds ("2024-08-08T23:54:18.912345Z")."""
    if t_us is None:
        return None
    sec, us = divmod(t_us, 1_000_000)
    return f"{_iso_second(sec)}.{us:06d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(sec: int) -> str:
    return datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def symbol_of(asset: str, known: list[str]) -> str | None:
    """ "BTC", "btc", "BTC_USDC" -> "BTC_USDC" when the engine knows it; else None."""
    a = asset.strip().upper()
    if a in known:
        return a
    if a in ASSETS and ASSETS[a] in known:
        return ASSETS[a]
    guess = f"{a}_USDC"
    return guess if guess in known else None


def open_order(user_id: str, pos: dict[str, Any]) -> dict[str, Any]:
    """An open order from the engine's position view (live upnl)."""
    return {
        "id": pos["ref"], "userId": user_id, "asset": pos["symbol"], "side": pos["side"],
        "qty": pos["qty"], "margin": pos["margin"], "leverage": pos["leverage"],
        "openingPrice": pos["open_price"], "closingPrice": None, "status": "open",
        "takeProfit": pos["take_profit"], "stopLoss": pos["stop_loss"], "pnl": None,
        "closeReason": None, "openedAt": iso(pos["opened_t"]), "closedAt": None,
        "fee": pos["fee"], "upnl": pos["upnl"], "liquidationPrice": pos["liquidation_price"],
        "swap": pos["swap"],
    }  # fmt: skip


def closed_order(
    user_id: str, inp: dict[str, Any], opened: dict[str, Any], closed: dict[str, Any]
) -> dict[str, Any]:
    """A closed order from its open input, `opened` and `closed` events."""
    fee = Decimal(opened["fee"]) + Decimal(closed["fee"])
    return {
        "id": opened["ref"], "userId": user_id, "asset": opened["symbol"],
        "side": opened["side"], "qty": opened["qty"], "margin": opened["margin"],
        "leverage": opened["leverage"], "openingPrice": opened["price"],
        "closingPrice": closed["price"], "status": "closed",
        "takeProfit": _like(inp.get("take_profit"), opened["price"]),
        "stopLoss": _like(inp.get("stop_loss"), opened["price"]),
        "pnl": closed["pnl"], "closeReason": closed["reason"], "openedAt": iso(opened["t"]),
        "closedAt": iso(closed["t"]), "fee": fmt_decimal(fee), "upnl": None,
        "liquidationPrice": None, "swap": None,
    }  # fmt: skip


def _like(price: str | None, shown: str) -> str | None:
    """A price given by the user, padded to the decimals the engine shows prices with."""
    if price is None:
        return None
    dp = len(shown.partition(".")[2])
    d = Decimal(price)
    exp = d.as_tuple().exponent
    return f"{d:.{dp}f}" if isinstance(exp, int) and -exp <= dp else price


def cents(amount: Decimal) -> int:
    """USD to whole cents, half up (the seed's integer `balances` entry)."""
    return int((amount * 100).quantize(Decimal(1), ROUND_HALF_UP))


def balance_body(user_id: str, figures: dict[str, Any]) -> dict[str, Any]:
    level = figures["margin_level"]
    return {
        "userId": user_id,
        "balances": [{"symbol": "USD", "balance": cents(figures["balance"]), "decimals": 2}],
        "balance": fmt_decimal(figures["balance"]),
        "equity": fmt_decimal(figures["equity"]),
        "used_margin": fmt_decimal(figures["used_margin"]),
        "free_margin": fmt_decimal(figures["free_margin"]),
        "margin_level": None
        if level is None
        else f"{level.quantize(Decimal('0.01'), ROUND_HALF_UP):f}",
        "margin_mode": figures["margin_mode"],
        "open_positions": figures["open_positions"],
    }
