"""Read-only views of the engine state: account figures, positions, the full state dict."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import ISOLATED, SIDE_NAMES, Account, Position
from ..money import MONEY_DP, PRICE_DP, as_decimal, fmt_decimal, fmt_money, fmt_qty
from .cross import level_text

if TYPE_CHECKING:
    from .core import Engine


class ViewsMixin:
    """Figures as the spec defines them, computed from the positions themselves."""

    def _account(self: Engine, name: str) -> Account:
        acct = self.by_name.get(name)
        if acct is None:
            from .core import BadInput

            raise BadInput(f"unknown account {name!r}")
        return acct

    def _figures_units(self: Engine, acct: Account) -> tuple[int, int, int, int]:
        """(balance, equity, used_margin, free_margin) in money units, per the definitions."""
        upnl = 0
        for pos in acct.positions.values():
            u = pos.upnl()
            if acct.mode == ISOLATED and u < -pos.margin:
                u = -pos.margin
            upnl += u
        equity = acct.balance + upnl
        return acct.balance, equity, acct.used_margin, equity - acct.used_margin

    def figures(self: Engine, account: str) -> dict[str, Any]:
        """Account figures as exact Decimals (margin_level in %, None while nothing is open)."""
        acct = self._account(account)
        bal, eq, used, free = self._figures_units(acct)
        return {
            "account": acct.name,
            "margin_mode": acct.mode,
            "balance": as_decimal(bal, MONEY_DP),
            "equity": as_decimal(eq, MONEY_DP),
            "used_margin": as_decimal(used, MONEY_DP),
            "free_margin": as_decimal(free, MONEY_DP),
            "margin_level": None if used == 0 else Decimal(eq) * 100 / Decimal(used),
            "open_positions": len(acct.positions),
        }

    def positions(self: Engine, account: str) -> list[dict[str, Any]]:
        """The open positions of an account, as decimal text (the account_state shape)."""
        return [_position_view(p) for p in self._account(account).positions.values()]

    def position(self: Engine, account: str, ref: str) -> dict[str, Any] | None:
        pos = self._account(account).positions.get(ref)
        return None if pos is None else _position_view(pos)

    def account_state(self: Engine, account: str) -> dict[str, Any]:
        """The `account_state` record of `workbench simulate` (without seq/t/type)."""
        acct = self._account(account)
        bal, eq, used, free = self._figures_units(acct)
        return {
            "account": acct.name,
            "balance": fmt_money(bal),
            "equity": fmt_money(eq),
            "used_margin": fmt_money(used),
            "free_margin": fmt_money(free),
            "margin_level": level_text(eq, used),
            "open": [
                {k: v for k, v in _position_view(p).items() if k in _STATE_KEYS}
                for p in acct.positions.values()
            ],
        }

    def last_quote(self: Engine, symbol: str) -> dict[str, Any] | None:
        b = self.books[self.symbol_id(symbol)]
        if b.t < 0:
            return None
        return {"symbol": symbol, "t": b.t, "bid": as_decimal(b.bid, PRICE_DP),
                "ask": as_decimal(b.ask, PRICE_DP)}  # fmt: skip


_STATE_KEYS = ("ref", "symbol", "side", "qty", "open_price", "margin", "upnl")


def _position_view(p: Position) -> dict[str, Any]:
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
        "opened_t": p.opened_t,
    }
