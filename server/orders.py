"""The API's order shapes from engine views and events: the seed's order (id, userId,
asset, side, qty, ...), a pending order, and a partial close."""

from __future__ import annotations

import functools
from collections.abc import Sequence
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
        "swap": pos["swap"], "trailingStop": pos["trailing_stop"],
        "trailingLevel": pos["trailing_level"], "reductions": None,
    }  # fmt: skip


def closed_now(user_id: str, pos: dict[str, Any], closed: dict[str, Any]) -> dict[str, Any]:
    """An order just closed whole: the position as it stood before and its `closed` event."""
    return {
        **open_order(user_id, pos), "status": "closed", "closingPrice": closed["price"],
        "pnl": closed["pnl"], "closeReason": closed["reason"], "upnl": None,
        "closedAt": iso(closed["t"]), "trailingLevel": None,
        "fee": fmt_decimal(Decimal(pos["fee"]) + Decimal(closed["fee"])),
    }  # fmt: skip


def closed_order(
    user_id: str, inp: dict[str, Any], opened: dict[str, Any], closed: dict[str, Any],
    changes: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:  # fmt: skip
    """A closed order from its open (or pending `order`) input, its `opened` and `closed`
    events, and its `modified` and `reduced` events (History.orders' `changes`).

    An order closed in parts shows `qty` and `margin` as opened, `pnl` the sum of the
    parts' pnl, `fee` every fee it paid, `closingPrice` and `closedAt` those of the last
    part, and the earlier parts under `reductions`. TP, SL and trailing stop are the last
    ones set."""
    tp = _like(inp.get("take_profit"), opened["price"])
    sl = _like(inp.get("stop_loss"), opened["price"])
    trail = opened.get("trailing_stop")
    pnl = Decimal(closed["pnl"])
    fee = Decimal(opened["fee"]) + Decimal(closed["fee"])
    parts = []
    for ev in changes:
        if ev["type"] == "modified":
            tp, sl, trail = ev["take_profit"], ev["stop_loss"], ev["trailing_stop"]
        else:
            pnl += Decimal(ev["pnl"])
            fee += Decimal(ev["fee"])
            parts.append(reduction(ev))
    return {
        "id": opened["ref"], "userId": user_id, "asset": opened["symbol"],
        "side": opened["side"], "qty": opened["qty"], "margin": opened["margin"],
        "leverage": opened["leverage"], "openingPrice": opened["price"],
        "closingPrice": closed["price"], "status": "closed", "takeProfit": tp,
        "stopLoss": sl, "pnl": closed["pnl"] if not parts else fmt_decimal(pnl),
        "closeReason": closed["reason"], "openedAt": iso(opened["t"]),
        "closedAt": iso(closed["t"]), "fee": fmt_decimal(fee), "upnl": None,
        "liquidationPrice": None, "swap": None, "trailingStop": trail,
        "trailingLevel": None, "reductions": parts or None,
    }  # fmt: skip


def reduction(ev: dict[str, Any]) -> dict[str, Any]:
    """A partial close from its `reduced` event."""
    return {
        "qty": ev["qty"], "price": ev["price"], "pnl": ev["pnl"], "fee": ev["fee"],
        "balance": ev["balance"], "remainingQty": ev["remaining_qty"], "at": iso(ev["t"]),
    }  # fmt: skip


def pending_order(
    user_id: str, o: dict[str, Any], status: str = "pending", reason: str | None = None,
    t: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A pending order from the engine's order view (cancelled: with `reason`, at `t`)."""
    return {
        "id": o["ref"], "userId": user_id, "asset": o["symbol"], "side": o["side"],
        "type": o["kind"], "price": o["price"], "qty": o["qty"], "margin": o["margin"],
        "leverage": o["leverage"], "takeProfit": o["take_profit"],
        "stopLoss": o["stop_loss"], "trailingStop": o["trailing_stop"],
        "expiresAt": iso(o["expires"]), "createdAt": iso(o["placed_t"]), "status": status,
        "cancelReason": reason, "cancelledAt": iso(t),
    }  # fmt: skip


def placed_view(ev: dict[str, Any]) -> dict[str, Any]:
    """The engine's order view of an `order_placed` event (what `Engine.orders` shows)."""
    g = ev.get
    return {
        "ref": ev["ref"], "symbol": ev["symbol"], "side": ev["side"], "kind": ev["kind"],
        "price": ev["price"], "margin": g("margin"), "qty": g("qty"),
        "leverage": ev["leverage"], "take_profit": g("take_profit"),
        "stop_loss": g("stop_loss"), "trailing_stop": g("trailing_stop"),
        "expires": g("expires"), "placed_t": ev["t"],
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
