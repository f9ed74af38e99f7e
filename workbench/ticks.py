"""Tick records shared by the importers, the synthetic feed and the readers.

Times are integer microseconds since the Unix epoch; prices and quantities are exact
Decimals (the store keeps them as DECIMAL, the engine as ints in units of 1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    """A best bid/offer. `t` is the exchange time, or the receive time when there is none."""

    symbol: str
    t: int
    recv: int
    bid: Decimal
    ask: Decimal
    bid_qty: Decimal | None = None
    ask_qty: Decimal | None = None
    update_id: int | None = None
    e: int | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade: `t` is the trade time, `e` the exchange send time."""

    symbol: str
    trade_id: int
    t: int
    e: int | None
    recv: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool | None = None
