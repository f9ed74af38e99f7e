"""Read-only views of the engine state: account figures, positions, orders, account_state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain import ISOLATED, SIDE_NAMES, Account, Order, Position, SymbolBook
from ..money import MONEY_DP, PRICE_DP, as_decimal, fmt_decimal, fmt_money, fmt_qty
from .cross import level_text


def figures_units(acct: Account) -> tuple[int, int, int, int]:
    """(balance, equity, used_margin, free_margin) in money units, per the definitions."""
    upnl = 0
    for pos in acct.positions.values():
        u = pos.upnl()
        if acct.mode == ISOLATED and u < -pos.margin:
            u = -pos.margin
        upnl += u
    equity = acct.balance + upnl
    return acct.balance, equity, acct.used_margin, equity - acct.used_margin


def figures(acct: Account) -> dict[str, Any]:
    """Account figures as exact Decimals (margin_level in %, None while nothing is open)."""
    bal, eq, used, free = figures_units(acct)
    return {
        "account": acct.name,
        "margin_mode": acct.mode,
        "balance": as_decimal(bal, MONEY_DP),
        "equity": as_decimal(eq, MONEY_DP),
        "used_margin": as_decimal(used, MONEY_DP),
        "free_margin": as_decimal(free, MONEY_DP),
        "margin_level": None if used == 0 else Decimal(eq) * 100 / Decimal(used),
        "open_positions": len(acct.positions),
        "pending_orders": len(acct.orders),
    }


def account_state(acct: Account) -> dict[str, Any]:
    """The `account_state` record of `workbench simulate` (without seq/t/type)."""
    bal, eq, used, free = figures_units(acct)
    return {
        "account": acct.name,
        "balance": fmt_money(bal),
        "equity": fmt_money(eq),
        "used_margin": fmt_money(used),
        "free_margin": fmt_money(free),
        "margin_level": level_text(eq, used),
        "open": [
            {k: v for k, v in position_view(p).items() if k in _STATE_KEYS}
            for p in acct.positions.values()
        ],
        "pending": [
            {k: v for k, v in order_view(o).items() if k in _PENDING_KEYS}
            for o in sorted(acct.orders.values(), key=lambda o: o.oid)
        ],
    }


def last_quote(b: SymbolBook) -> dict[str, Any] | None:
    if b.t < 0:
        return None
    return {"symbol": b.inst.symbol, "t": b.t, "bid": as_decimal(b.bid, PRICE_DP),
            "ask": as_decimal(b.ask, PRICE_DP)}  # fmt: skip


def orders_view(acct: Account) -> list[dict[str, Any]]:
    return [order_view(o) for o in sorted(acct.orders.values(), key=lambda o: o.oid)]


_STATE_KEYS = ("ref", "symbol", "side", "qty", "open_price", "margin", "upnl")
_PENDING_KEYS = ("ref", "symbol", "side", "kind", "price")


def position_view(p: Position) -> dict[str, Any]:
    """An open position as decimal text."""
    level = p.trail_level()
    return {
        "ref": p.ref,
        "symbol": p.book.inst.symbol,
        "side": SIDE_NAMES[p.side],
        "qty": fmt_qty(p.qty),
        "open_price": p.book.fmt(p.open_price),
        "margin": fmt_money(p.margin),
        "upnl": fmt_money(p.upnl()),
        "leverage": fmt_decimal(p.leverage),
        "fee": fmt_money(p.fee),
        "swap": fmt_money(p.swap),
        "take_profit": None if p.tp is None else p.book.fmt(p.tp),
        "stop_loss": None if p.sl is None else p.book.fmt(p.sl),
        "liquidation_price": None if p.liq is None else p.book.fmt(p.liq),
        "trailing_stop": None if p.trail is None else p.book.fmt(p.trail),
        "trailing_level": None if level is None else p.book.fmt(level),
        "opened_t": p.opened_t,
    }


def order_view(o: Order) -> dict[str, Any]:
    """A pending order as decimal text."""
    fmt = o.book.fmt
    return {
        "ref": o.ref,
        "symbol": o.book.inst.symbol,
        "side": SIDE_NAMES[o.side],
        "kind": o.kind,
        "price": fmt(o.price),
        "margin": None if o.margin is None else fmt_money(o.margin),
        "qty": None if o.qty is None else fmt_qty(o.qty),
        "leverage": fmt_decimal(o.leverage),
        "take_profit": None if o.tp is None else fmt(o.tp),
        "stop_loss": None if o.sl is None else fmt(o.sl),
        "trailing_stop": None if o.trail is None else fmt(o.trail),
        "expires": o.expires,
        "placed_t": o.placed_t,
    }
