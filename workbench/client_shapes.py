"""The client's conversions of the server's JSON: exact decimals, UTC times, DataFrames.

Money, prices and sizes go to the server as decimal text (a float is a TypeError) and come
back as `Decimal` (in dicts) or `pl.Decimal` columns (in DataFrames); times as UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

Number = int | str | Decimal
Time = datetime | str | int | float

UTC_US = pl.Datetime("us", "UTC")
S = pl.String
#: Columns and their kind: a polars dtype, or an int for exact decimals at that scale (the
#: engine's: 8 for prices and sizes, 16 for money), widened if a value has more decimals.
ORDER = {"id": S, "userId": S, "asset": S, "side": S, "qty": 8, "margin": 16, "leverage": 8,
         "openingPrice": 8, "closingPrice": 8, "status": S, "takeProfit": 8, "stopLoss": 8,
         "pnl": 16, "closeReason": S, "openedAt": UTC_US, "closedAt": UTC_US, "fee": 16,
         "upnl": 16, "liquidationPrice": 8, "swap": 16, "trailingStop": 8,
         "trailingLevel": 8}  # fmt: skip
PENDING = {"id": S, "userId": S, "asset": S, "side": S, "type": S, "price": 8, "qty": 8,
           "margin": 16, "leverage": 8, "takeProfit": 8, "stopLoss": 8, "trailingStop": 8,
           "expiresAt": UTC_US, "createdAt": UTC_US, "status": S, "cancelReason": S,
           "cancelledAt": UTC_US}  # fmt: skip
REDUCTION = {"qty": 8, "price": 8, "pnl": 16, "fee": 16, "balance": 16, "remainingQty": 8,
             "at": UTC_US}  # fmt: skip
PRICE = {"symbol": S, "bid": 8, "ask": 8, "t": UTC_US, "age_s": pl.Float64}
CANDLE = {"bucket": UTC_US, "symbol": S, "open": 8, "high": 8, "low": 8, "close": 8,
          "volume": 8, "trades": pl.Int64, "quotes": pl.Int64, "partial": pl.Boolean}  # fmt: skip
BALANCE_DECIMALS = ("balance", "equity", "used_margin", "free_margin", "margin_level")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def number(value: Number, what: str) -> str:
    """Exact decimal text of an int, str or Decimal; a float (or bool) is a TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        kind = "the float" if isinstance(value, float) else "a"
        raise TypeError(
            f'{what} must be an int, a decimal string such as "61837.63" or a Decimal, not '
            f"{kind} {type(value).__name__} {value!r}: money is exact"
        )
    return value.strip() if isinstance(value, str) else format(Decimal(value), "f")


def dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


def typed(raw: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`raw` with the fields of `schema` as Decimals and UTC datetimes."""
    out = dict(raw)
    for k, kind in schema.items():
        v = out.get(k)
        if isinstance(kind, int):
            out[k] = dec(v)
        elif kind == UTC_US:
            out[k] = None if v is None else datetime.fromisoformat(v).astimezone(UTC)
    return out


def to_order(raw: dict[str, Any]) -> dict[str, Any]:
    """A server order with Decimal money/prices and UTC datetimes; a pending one (status
    pending or cancelled) has the PENDING fields, an open or closed one the ORDER fields
    (with `reductions`: the parts closed before the rest)."""
    if raw.get("status") in ("pending", "cancelled"):
        return typed(raw, PENDING)
    out = typed(raw, ORDER)
    if out.get("reductions"):
        out["reductions"] = [typed(r, REDUCTION) for r in out["reductions"]]
    return out


def frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """Rows as a DataFrame of `schema` (see ORDER); exact decimals are never rounded."""
    cols = []
    for name, kind in schema.items():
        values = [r.get(name) for r in rows]
        if isinstance(kind, int):
            values = [dec(v) for v in values]
            exps = [v.as_tuple().exponent for v in values if v is not None]
            kind = pl.Decimal(38, max([kind, *(-e for e in exps if isinstance(e, int))]))
        cols.append(pl.Series(name, values, dtype=kind))
    return pl.DataFrame(cols)


def from_us(t: int | None) -> datetime | None:
    return None if t is None else EPOCH + timedelta(microseconds=t)


def expiry(t: Time) -> str:
    """An order's expiry for the server: ISO 8601 (a naive datetime is UTC), or epoch
    seconds (a float is rounded to the microsecond)."""
    if isinstance(t, datetime):
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()
    if isinstance(t, float):
        return f"{t:.6f}"
    if isinstance(t, bool) or not isinstance(t, (int, str, Decimal)):
        raise TypeError(f"expires must be a datetime, an ISO string or epoch seconds, not {t!r}")
    return t if isinstance(t, str) else format(Decimal(t), "f")


def epoch_seconds(t: Time) -> int:
    """Seconds since the epoch of a datetime (naive = UTC), an ISO string or a number."""
    if isinstance(t, (int, float)):
        return int(t)
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())
