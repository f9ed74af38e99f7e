"""The frames of a backtest's result: their columns and how rows become polars frames.

Money, prices and quantities are exact Decimal columns (prices and quantities to 1e-8,
money to 1e-16, as the engine keeps them); beside each engine time (`t`, `open_t`, ...)
goes a UTC datetime column (`time`, `open_time`, ...).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

PRICE = pl.Decimal(38, 8)
MONEY = pl.Decimal(38, 16)

EVENT_COLUMNS: dict[str, Any] = {
    "seq": pl.Int64,
    "t": pl.Int64,
    "type": pl.String,
    "account": pl.String,
    "ref": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "reason": pl.String,
    "price": PRICE,
    "qty": PRICE,
    "margin": MONEY,
    "leverage": MONEY,
    "fee": MONEY,
    "pnl": MONEY,
    "amount": MONEY,
    "balance": MONEY,
    "written_off": MONEY,
    "margin_level": MONEY,
    "margin_mode": pl.String,
    "message": pl.String,
    "kind": pl.String,
    "order": pl.String,
    "remaining_qty": PRICE,
    "take_profit": PRICE,
    "stop_loss": PRICE,
    "trailing_stop": PRICE,
    "expires": pl.Int64,
}
FILL_COLUMNS: dict[str, Any] = {
    "seq": pl.Int64,
    "t": pl.Int64,
    "account": pl.String,
    "ref": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "action": pl.String,
    "order": pl.String,
    "reason": pl.String,
    "price": PRICE,
    "qty": PRICE,
    "fee": MONEY,
    "pnl": MONEY,
    "balance": MONEY,
}
CLOSED_COLUMNS: dict[str, Any] = {
    "account": pl.String,
    "ref": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "order": pl.String,
    "qty": PRICE,
    "leverage": MONEY,
    "margin": MONEY,
    "open_t": pl.Int64,
    "open_price": PRICE,
    "open_fee": MONEY,
    "close_t": pl.Int64,
    "close_price": PRICE,
    "reason": pl.String,
    "reductions": pl.Int64,
    "pnl": MONEY,
    "close_fee": MONEY,
    "swap": MONEY,
    "net": MONEY,
    "written_off": MONEY,
}
REDUCTION_COLUMNS: dict[str, Any] = {
    "seq": pl.Int64,
    "t": pl.Int64,
    "account": pl.String,
    "ref": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "open_t": pl.Int64,
    "price": PRICE,
    "qty": PRICE,
    "pnl": MONEY,
    "fee": MONEY,
    "balance": MONEY,
    "remaining_qty": PRICE,
    "written_off": MONEY,
}
ORDER_COLUMNS: dict[str, Any] = {
    "account": pl.String,
    "ref": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "kind": pl.String,
    "price": PRICE,
    "qty": PRICE,
    "margin": MONEY,
    "leverage": MONEY,
    "take_profit": PRICE,
    "stop_loss": PRICE,
    "trailing_stop": PRICE,
    "expires": pl.Int64,
    "placed_t": pl.Int64,
    "status": pl.String,
    "reason": pl.String,
    "end_t": pl.Int64,
    "fill_price": PRICE,
    "modified": pl.Int64,
}
REJECTION_COLUMNS: dict[str, Any] = {
    "seq": pl.Int64,
    "t": pl.Int64,
    "account": pl.String,
    "ref": pl.String,
    "command": pl.String,
    "reason": pl.String,
    "message": pl.String,
}
EQUITY_COLUMNS: dict[str, Any] = {
    "account": pl.String,
    "t": pl.Int64,
    "kind": pl.String,
    "balance": MONEY,
    "equity": MONEY,
    "used_margin": MONEY,
    "free_margin": MONEY,
    "margin_level": MONEY,
    "open_positions": pl.Int64,
}


TIME_COLUMNS = {
    "t": "time",
    "open_t": "open_time",
    "close_t": "close_time",
    "placed_t": "placed_time",
    "end_t": "end_time",
}


def frame(rows: list[Any], columns: dict[str, Any]) -> pl.DataFrame:
    """Rows (dicts or tuples in column order) as a frame; decimals go in as text or Decimal."""
    if rows and isinstance(rows[0], dict):
        data = {c: [r.get(c) for r in rows] for c in columns}
    else:
        data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    series = []
    for name, dtype in columns.items():
        values = data[name]
        if isinstance(dtype, pl.Decimal):
            texts = [text(v) for v in values]
            series.append(pl.Series(name, texts, dtype=pl.String).cast(dtype))
        else:
            series.append(pl.Series(name, values, dtype=dtype))
    out = []
    for s in series:
        out.append(s)
        if s.name in TIME_COLUMNS:  # a UTC datetime beside each engine time
            name = TIME_COLUMNS[s.name]
            out.append(pl.from_epoch(s, "us").dt.replace_time_zone("UTC").alias(name))
    return pl.DataFrame(out)


def text(v: Any) -> str | None:
    """Decimal text without exponent ("0.00000001", not "1E-8")."""
    if v is None or isinstance(v, str):
        return v
    return format(v, "f") if isinstance(v, Decimal) else str(v)


def floats(df: pl.DataFrame) -> pl.DataFrame:
    """The frame with its Decimal columns as Float64 (for analytics: `describe()`, numpy)."""
    return df.with_columns(
        pl.col(c).cast(pl.Float64) for c, t in df.schema.items() if isinstance(t, pl.Decimal)
    )
