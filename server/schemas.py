"""Request and response bodies of the REST API (what `/openapi.json` documents).

Money, prices and sizes go out as decimal strings, exact; they come in as JSON numbers
or decimal strings (`DecimalIn`). Unknown request fields are ignored (the first seed's
client sends `status`, and a `pnl` on close), never trusted.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from .jsonbody import DecimalIn, PriceIn

MarginMode = Literal["isolated", "cross"]


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


Side = Annotated[Literal["long", "short"], BeforeValidator(_lower)]
# invisible characters that reorder or hide text (bidi embeddings, overrides, isolates)
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_text", message)


def plain_text(value: Any, max_chars: int) -> str:
    """`value` trimmed: text, not empty, at most `max_chars`, no control characters."""
    if not isinstance(value, str):
        raise _refuse("must be text")
    text = value.strip()
    if not text:
        raise _refuse("must not be empty")
    if len(text) > max_chars:
        raise _refuse(f"must be at most {max_chars} characters")
    for ch in text:
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            raise _refuse(f"must not contain control characters (U+{ord(ch):04X})")
    return text


def _name(value: Any) -> str:
    return plain_text(value, 100)


def _email(value: Any) -> str:
    text = plain_text(value, 254).lower()
    local, at, domain = text.partition("@")
    if not (at and local and domain) or "@" in domain or any(c.isspace() for c in text):
        raise _refuse("must look like name@example.com")
    return text


Name = Annotated[str, BeforeValidator(_name), Field(json_schema_extra={"maxLength": 100})]
Email = Annotated[str, BeforeValidator(_email),
                  Field(json_schema_extra={"minLength": 3, "maxLength": 254})]  # fmt: skip


class In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterIn(In):
    name: Name
    email: Email
    password: str = Field(min_length=8, max_length=256)
    margin_mode: MarginMode = "isolated"


class LoginIn(In):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class TradeIn(In):
    asset: str = Field(min_length=1, max_length=32, description='"BTC" or "BTC_USDC"')
    side: Side
    leverage: DecimalIn
    margin: DecimalIn | None = Field(None, description="USD; give margin or qty")
    qty: DecimalIn | None = Field(None, description="base units; give margin or qty")
    takeProfit: PriceIn | None = Field(
        None, validation_alias=AliasChoices("takeProfit", "take_profit")
    )
    stopLoss: PriceIn | None = Field(None, validation_alias=AliasChoices("stopLoss", "stop_loss"))


class DepositIn(In):
    symbol: Literal["USD", "USDC"] = "USD"
    amount: DecimalIn


class ResetIn(In):
    margin_mode: MarginMode | None = Field(
        None, description="switch the account to this margin mode (default: keep it)"
    )


# ------------------------------------------------------------------ responses
class ErrorOut(BaseModel):
    error: str = Field(description="what is wrong, for a person")
    reason: str = Field(description="a code: invalid_request, insufficient_margin, ...")
    detail: list[dict[str, Any]] | None = None


class UserOut(BaseModel):
    id: str
    email: str
    name: str


class AuthOut(BaseModel):
    message: str
    user: UserOut
    token: str


class MeOut(BaseModel):
    user: UserOut
    margin_mode: MarginMode | None = None


class MessageOut(BaseModel):
    message: str


class ReductionOut(BaseModel):
    """One part of a position closed before the rest (`POST /trade/close/{id}` with qty)."""

    qty: str
    price: str
    pnl: str
    fee: str
    balance: str
    remainingQty: str
    at: str


class OrderOut(BaseModel):
    id: str
    userId: str
    asset: str
    side: str
    qty: str
    margin: str
    leverage: str
    openingPrice: str
    closingPrice: str | None
    status: Literal["open", "closed"]
    takeProfit: str | None
    stopLoss: str | None
    pnl: str | None
    closeReason: str | None
    openedAt: str
    closedAt: str | None
    fee: str
    upnl: str | None = None
    liquidationPrice: str | None = None
    swap: str | None = None
    trailingStop: str | None = None
    trailingLevel: str | None = Field(None, description="an open order's trailing-stop level now")
    reductions: list[ReductionOut] | None = Field(
        None,
        description="the parts closed before the rest: a closed order's qty and margin "
        "are as opened, its pnl and fee those of every part",
    )


class OrderCreatedOut(BaseModel):
    orderId: str
    order: OrderOut


class OrderEnvelopeOut(BaseModel):
    order: OrderOut


class OrdersOut(BaseModel):
    orders: list[OrderOut]


class AssetBalance(BaseModel):
    symbol: str
    balance: int = Field(description="in units of 10^-decimals (cents for USD)")
    decimals: int


class BalanceOut(BaseModel):
    userId: str
    balances: list[AssetBalance]
    balance: str
    equity: str
    used_margin: str
    free_margin: str
    margin_level: str | None
    margin_mode: MarginMode
    open_positions: int


class CandleOut(BaseModel):
    bucket: int = Field(description="bucket start, seconds since the epoch")
    symbol: str
    open: str
    high: str
    low: str
    close: str
    volume: str = Field(description="traded quantity in the bucket (0 when no trades stored)")
    trades: int
    quotes: int
    partial: bool = Field(description="the data ends before the bucket does")


class CandlesOut(BaseModel):
    data: list[CandleOut]


class PriceOut(BaseModel):
    symbol: str
    bid: str | None
    ask: str | None
    t: int | None = Field(description="quote time, µs since the epoch")
    age_s: float | None


class PricesOut(BaseModel):
    feed: str
    prices: list[PriceOut]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    feed: dict[str, Any]
    engine: dict[str, Any]
    database: dict[str, Any]
    dashboard: dict[str, Any] | None = None
    event_loop: dict[str, Any] | None = None  # {"lag_ms": {p50_ms, p99_ms, max_ms, ...}}
    api: dict[str, Any] | None = None  # {"fast_lane": calls answered on the lean path}
