"""Request and response bodies of pending orders, modify and partial close.

Numbers come in as JSON numbers or decimal strings (`DecimalIn`, `PriceIn`), as in
`TradeIn`. An expiry comes in as an ISO 8601 time or epoch seconds (`ExpiresIn`) and is
held as engine time: integer microseconds since the epoch.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, Field, WithJsonSchema

from .jsonbody import DECIMAL_TEXT, DecimalIn, PriceIn, to_exact
from .schemas import In, OrderOut, ReductionOut, Side

MAX_EPOCH_S = 253_402_300_800  # 10000-01-01T00:00:00Z: the last time ISO 8601 can write
_NUMBER = re.compile(DECIMAL_TEXT)
_FINER = re.compile(r"[.,][0-9]{7,}")


def epoch_us(value: Any) -> int:
    """An ISO 8601 time (no offset: UTC) or epoch seconds, as integer µs since the epoch."""
    if isinstance(value, str) and not _NUMBER.match(value):
        if len(value) > 40:
            raise ValueError("must be an ISO 8601 time or epoch seconds")
        if _FINER.search(value):
            raise ValueError("must not be finer than a microsecond (6 decimals of a second)")
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f'must be an ISO 8601 time such as "2030-01-02T03:04:05Z" or epoch seconds, '
                f"not {value!r}"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delta = when - datetime(1970, 1, 1, tzinfo=UTC)
        us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    else:
        seconds = to_exact(value)
        us_exact = seconds * 1_000_000
        if us_exact != us_exact.to_integral_value():
            raise ValueError("must not be finer than a microsecond (6 decimals of a second)")
        us = int(us_exact)
    if not 0 < us < MAX_EPOCH_S * 1_000_000:
        raise ValueError("must be after 1970 and before the year 10000")
    return us


ExpiresIn = Annotated[
    int,
    BeforeValidator(epoch_us),
    WithJsonSchema({
        "anyOf": [{"type": "number"}, {"type": "string"}],
        "description": 'an ISO 8601 time ("2030-01-02T03:04:05Z"; without an offset, UTC) '
        "or seconds since the epoch (up to 6 decimals); must be in the future",
    }),
]  # fmt: skip


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class OrderIn(In):
    """A market order (as `/trade/create`) or a pending limit or stop order."""

    asset: str = Field(min_length=1, max_length=32, description='"BTC" or "BTC_USDC"')
    side: Side
    type: Annotated[Literal["market", "limit", "stop"], BeforeValidator(_lower)] = Field(
        "market", description="market: fill now; limit / stop: wait for `price` (see docs)"
    )
    price: PriceIn | None = Field(None, description="the trigger price of a limit or stop")
    leverage: DecimalIn
    margin: DecimalIn | None = Field(None, description="USD; give margin or qty")
    qty: DecimalIn | None = Field(None, description="base units; give margin or qty")
    takeProfit: PriceIn | None = Field(None, validation_alias=_alias("takeProfit", "take_profit"))
    stopLoss: PriceIn | None = Field(None, validation_alias=_alias("stopLoss", "stop_loss"))
    trailingStop: PriceIn | None = Field(
        None, validation_alias=_alias("trailingStop", "trailing_stop"),
        description="a price distance: the stop follows the best price by this much",
    )  # fmt: skip
    expiresAt: ExpiresIn | None = Field(
        None, validation_alias=_alias("expiresAt", "expires_at"),
        description="limit / stop only: cancelled (reason expired) at this time",
    )  # fmt: skip


class ModifyIn(In):
    """What to change: only the fields present change; `null` removes a TP, SL, trailing
    stop or expiry. `price` and `expiresAt` are for a pending order only."""

    takeProfit: PriceIn | None = Field(None, validation_alias=_alias("takeProfit", "take_profit"))
    stopLoss: PriceIn | None = Field(None, validation_alias=_alias("stopLoss", "stop_loss"))
    trailingStop: PriceIn | None = Field(
        None, validation_alias=_alias("trailingStop", "trailing_stop")
    )
    price: PriceIn | None = None
    expiresAt: ExpiresIn | None = Field(None, validation_alias=_alias("expiresAt", "expires_at"))


class CloseQtyIn(In):
    """An optional body of `/trade/close/{id}`: `qty` closes only that part."""

    qty: DecimalIn | None = Field(None, description="base units to close (default: all)")


# ------------------------------------------------------------------ responses
class PendingOrderOut(BaseModel):
    id: str
    userId: str
    asset: str
    side: str
    type: Literal["limit", "stop"]
    price: str
    qty: str | None = Field(description="the size when given in base units")
    margin: str | None = Field(description="the size when given in USD")
    leverage: str
    takeProfit: str | None
    stopLoss: str | None
    trailingStop: str | None
    expiresAt: str | None
    createdAt: str
    status: Literal["pending", "cancelled"]
    cancelReason: str | None = None
    cancelledAt: str | None = None


class PendingOrdersOut(BaseModel):
    orders: list[PendingOrderOut]


class PendingEnvelopeOut(BaseModel):
    order: PendingOrderOut


class PlacedOut(BaseModel):
    orderId: str
    order: OrderOut | PendingOrderOut = Field(
        description="a market order's position (status open), or the pending order"
    )


class ModifiedOut(BaseModel):
    order: OrderOut | PendingOrderOut = Field(
        description="the open position or the pending order after the change"
    )


class CloseOut(BaseModel):
    order: OrderOut = Field(description="closed; or, after a partial close, still open")
    reduced: ReductionOut | None = Field(None, description="the part closed (partial close)")
