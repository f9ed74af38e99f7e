"""The result of a backtest: the engine's events and sampled figures, as polars DataFrames.

Money, prices and quantities are exact Decimal columns (prices and quantities to 1e-8,
money to 1e-16, as the engine keeps them); `time` columns are UTC datetimes of the
engine time `t` (µs), and `open_time`, `close_time`, `placed_time`, `end_time` beside
their engine times. Every frame converts with `.to_pandas()`. Frames are built on first
access. `event_lines()` gives the run's events as `workbench simulate` writes them.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from functools import cached_property
from typing import Any

import polars as pl

from ..engine import Engine
from ..money import MONEY_DP, as_decimal
from .stats import account_stats, stats_frame
from .trades import Trades, fold

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


def _frame(rows: list[Any], columns: dict[str, Any]) -> pl.DataFrame:
    """Rows (dicts or tuples in column order) as a frame; decimals go in as text or Decimal."""
    if rows and isinstance(rows[0], dict):
        data = {c: [r.get(c) for r in rows] for c in columns}
    else:
        data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    series = []
    for name, dtype in columns.items():
        values = data[name]
        if isinstance(dtype, pl.Decimal):
            texts = [_text(v) for v in values]
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


def _text(v: Any) -> str | None:
    """Decimal text without exponent ("0.00000001", not "1E-8")."""
    if v is None or isinstance(v, str):
        return v
    return format(v, "f") if isinstance(v, Decimal) else str(v)


class Result:
    """What a backtest produced (see the module docstring for the frames)."""

    def __init__(
        self,
        *,
        raw_events: list[dict[str, Any]],
        samples: list[tuple[Any, ...]],
        accounts: dict[str, tuple[str, int]],
        symbols: list[str],
        prices: tuple[list[str], list[int], list[int], list[int]],
        engine: Engine,
        rejections: list[dict[str, Any]] | None = None,
        quotes: int,
        sample_every: int | None,
        wall_s: float,
    ) -> None:
        self.raw_events = raw_events
        self.samples = samples
        self.accounts = {
            k: (mode, as_decimal(bal, MONEY_DP)) for k, (mode, bal) in accounts.items()
        }
        self.symbols = symbols
        self._prices = prices
        self.engine = engine
        self._rejections = rejections
        self.quotes = quotes
        self.sample_every = sample_every
        self.wall_s = wall_s

    def __repr__(self) -> str:
        return (
            f"<Result {self.quotes:,} quotes, {len(self.raw_events):,} events, "
            f"accounts {list(self.accounts)}, {self.wall_s:.3f} s>"
        )

    # ---------------------------------------------------------------- frames
    @cached_property
    def events(self) -> pl.DataFrame:
        """Every engine event of the run, in engine order."""
        return _frame(self.raw_events, EVENT_COLUMNS)

    @cached_property
    def _trades(self) -> Trades:
        return fold(self.raw_events)

    @cached_property
    def fills(self) -> pl.DataFrame:
        """One row per `opened`, `reduced` and `closed` event (action open, reduce, close);
        `order` is market, limit or stop on opens; `qty` is the qty opened or closed."""
        return _frame(self._trades.fills, FILL_COLUMNS)

    @cached_property
    def closed(self) -> pl.DataFrame:
        """One row per position closed (a trade): reason, prices, pnl, fees, swap, net; a
        position reduced before it closed is one row with summed pnl and fees (`trades`)."""
        return _frame(self._trades.closed, CLOSED_COLUMNS)

    @cached_property
    def reductions(self) -> pl.DataFrame:
        """One row per partial close (`reduced`): price, qty closed, pnl, fee, remaining qty."""
        return _frame(self._trades.reductions, REDUCTION_COLUMNS)

    @cached_property
    def orders(self) -> pl.DataFrame:
        """One row per pending order placed: its last price and expiry, and `status`
        filled (`fill_price`), cancelled (`reason`: cancelled, expired,
        insufficient_margin, reset) or pending (still waiting at the end)."""
        return _frame(self._trades.orders, ORDER_COLUMNS)

    @cached_property
    def rejections(self) -> pl.DataFrame:
        """One row per rejected command: the command (open, order, close, cancel, modify),
        its ref, the engine's reason and message."""
        rows = self._rejections
        if rows is None:
            rows = [{**e, "command": None} for e in self.raw_events if e["type"] == "rejected"]
        return _frame(rows, REJECTION_COLUMNS)

    @cached_property
    def equity(self) -> pl.DataFrame:
        """Engine figures sampled on every event of an account and at every interval.

        `kind` is the event type, or start / interval / end.
        """
        return _frame(self.samples, EQUITY_COLUMNS)

    @cached_property
    def margin_level(self) -> pl.DataFrame:
        """The margin level curve (%, rows where something was open)."""
        cols = ["account", "t", "time", "kind", "margin_level"]
        return self.equity.select(cols).filter(pl.col("margin_level").is_not_null())

    @cached_property
    def prices(self) -> pl.DataFrame:
        """The quotes fed (every quote, or evenly thinned to ~20k-40k on long runs)."""
        syms, ts, bids, asks = self._prices
        rows = list(
            zip(
                syms,
                ts,
                (as_decimal(b, 8) for b in bids),
                (as_decimal(a, 8) for a in asks),
                strict=True,
            )
        )
        cols = {"symbol": pl.String, "t": pl.Int64, "bid": PRICE, "ask": PRICE}
        return _frame(rows, cols)

    def stats_rows(self) -> list[dict[str, Any]]:
        """The stats of each account as plain Python values (Decimal money)."""
        closed = self._trades.closed
        rows = []
        for name, (mode, start) in self.accounts.items():
            samples = [(s[1], s[2], s[3], s[4]) for s in self.samples if s[0] == name]
            events = (e for e in self.raw_events if e.get("account") == name)
            mine = [c for c in closed if c["account"] == name]
            rows.append(account_stats(name, mode, start, samples, events, mine, self.sample_every))
        return rows

    @cached_property
    def stats(self) -> pl.DataFrame:
        """Per account: return, max drawdown, Sharpe, win rate, trades, closes by reason,
        fees, swap (definitions in `backtest.stats`)."""
        return stats_frame(self.stats_rows())

    # ---------------------------------------------------------------- output
    def event_lines(self) -> list[str]:
        """The events and closing `account_state` lines exactly as `workbench simulate`
        prints them for the recorded scenario of this run."""
        from ..scenario import write_states

        out = io.StringIO()
        for ev in self.raw_events:
            out.write(json.dumps(ev) + "\n")
        write_states(self.engine, out)
        return out.getvalue().splitlines()

    def plot(self, symbol: str | None = None, account: str | None = None) -> Any:
        """A bokeh layout: price with entries, exits and liquidations; equity; margin level."""
        from .plot import plot_result

        return plot_result(self, symbol=symbol, account=account)
