"""The result of a backtest: the engine's events and sampled figures, as polars DataFrames.

Money, prices and quantities are exact Decimal columns (prices and quantities to 1e-8,
money to 1e-16, as the engine keeps them); `time` columns are UTC datetimes of the
engine time `t` (µs), and `open_time`, `close_time`, `placed_time`, `end_time` beside
their engine times (columns: `frames`). Frames are built on first access; every frame
converts with `.to_pandas()`, and `Result.to_pandas(name)` gives one with float columns
for analytics. `stats` are per account (`stats`); `save`/`load` keep a result as a folder
of Parquet files (`saved`), `report` writes one standalone HTML page (`report`).
`event_lines()` gives the run's events as `workbench simulate` writes them.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..engine import Engine
from ..money import MONEY_DP, PRICE_DP, as_decimal
from .frames import (
    CLOSED_COLUMNS,
    EQUITY_COLUMNS,
    EVENT_COLUMNS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    PRICE,
    REDUCTION_COLUMNS,
    REJECTION_COLUMNS,
    frame,
)
from .frames import floats as with_floats
from .stats import Benchmark, account_stats, stats_frame
from .trades import Trades, fold

#: The frames of a Result, by attribute name.
FRAMES = (
    "events",
    "fills",
    "closed",
    "reductions",
    "orders",
    "rejections",
    "equity",
    "margin_level",
    "prices",
    "stats",
)
Quote = dict[str, Any]  # {"t": µs, "bid": text, "ask": text}


class Result:
    """What a backtest produced (see the module docstring for the frames)."""

    def __init__(
        self,
        *,
        raw_events: list[dict[str, Any]],
        samples: list[tuple[Any, ...]],
        accounts: dict[str, tuple[str, Any]],
        symbols: list[str],
        prices: tuple[list[str], list[int], list[int], list[int]] | None,
        engine: Engine | None,
        rejections: list[dict[str, Any]] | None = None,
        quotes: int,
        sample_every: int | None,
        wall_s: float,
        first_quotes: dict[str, tuple[int, int, int]] | None = None,
        params: dict[str, Any] | None = None,
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
        #: Each account's strategy as it was built: its class and simple attributes.
        self.params: dict[str, Any] = params or {}
        #: Each symbol's first and last quote of the run (the buy & hold benchmark).
        self.marks: dict[str, dict[str, Quote]] = _marks(first_quotes or {}, engine)
        self._state_lines: list[str] | None = None  # a loaded result has no engine

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the engine (its listeners hold the run and its data source, e.g. a
        DuckDB connection): the closing account states are kept for `event_lines`."""
        state = dict(self.__dict__)
        if self.engine is not None:
            state["_state_lines"] = self.event_lines()[len(self.raw_events) :]
            state["engine"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"<Result {self.quotes:,} quotes, {len(self.raw_events):,} events, "
            f"accounts {list(self.accounts)}, {self.wall_s:.3f} s>"
        )

    # ---------------------------------------------------------------- frames
    @cached_property
    def events(self) -> pl.DataFrame:
        """Every engine event of the run, in engine order."""
        return frame(self.raw_events, EVENT_COLUMNS)

    @cached_property
    def _trades(self) -> Trades:
        return fold(self.raw_events)

    @cached_property
    def fills(self) -> pl.DataFrame:
        """One row per `opened`, `reduced` and `closed` event (action open, reduce, close);
        `order` is market, limit or stop on opens; `qty` is the qty opened or closed."""
        return frame(self._trades.fills, FILL_COLUMNS)

    @cached_property
    def closed(self) -> pl.DataFrame:
        """One row per position closed (a trade): reason, prices, pnl, fees, swap, net; a
        position reduced before it closed is one row with summed pnl and fees (`trades`)."""
        return frame(self._trades.closed, CLOSED_COLUMNS)

    @cached_property
    def reductions(self) -> pl.DataFrame:
        """One row per partial close (`reduced`): price, qty closed, pnl, fee, remaining qty."""
        return frame(self._trades.reductions, REDUCTION_COLUMNS)

    @cached_property
    def orders(self) -> pl.DataFrame:
        """One row per pending order placed: its last price and expiry, and `status`
        filled (`fill_price`), cancelled (`reason`: cancelled, expired,
        insufficient_margin, reset) or pending (still waiting at the end)."""
        return frame(self._trades.orders, ORDER_COLUMNS)

    @cached_property
    def rejections(self) -> pl.DataFrame:
        """One row per rejected command: the command (open, order, close, cancel, modify),
        its ref, the engine's reason and message."""
        rows = self._rejections
        if rows is None:
            rows = [{**e, "command": None} for e in self.raw_events if e["type"] == "rejected"]
        return frame(rows, REJECTION_COLUMNS)

    @cached_property
    def equity(self) -> pl.DataFrame:
        """Engine figures sampled on every event of an account and at every interval.

        `kind` is the event type, or start / interval / end.
        """
        return frame(self.samples, EQUITY_COLUMNS)

    @cached_property
    def margin_level(self) -> pl.DataFrame:
        """The margin level curve (%, rows where something was open)."""
        cols = ["account", "t", "time", "kind", "margin_level"]
        return self.equity.select(cols).filter(pl.col("margin_level").is_not_null())

    @cached_property
    def prices(self) -> pl.DataFrame:
        """The quotes fed (every quote, or evenly thinned to ~20k-40k on long runs)."""
        syms, ts, bids, asks = self._prices or ([], [], [], [])
        rows = list(
            zip(
                syms,
                ts,
                (as_decimal(b, PRICE_DP) for b in bids),
                (as_decimal(a, PRICE_DP) for a in asks),
                strict=True,
            )
        )
        cols = {"symbol": pl.String, "t": pl.Int64, "bid": PRICE, "ask": PRICE}
        return frame(rows, cols)

    def to_pandas(self, name: str = "closed", *, floats: bool = True) -> Any:
        """The frame `name` as a pandas DataFrame: Decimal columns as float64 (so that
        `describe()` and numpy work), or exact Decimal objects with `floats=False`."""
        return self.frame(name, floats=floats).to_pandas()

    def frame(self, name: str, *, floats: bool = False) -> pl.DataFrame:
        """The frame `name` (one of `FRAMES`), its Decimal columns as Float64 if `floats`."""
        if name not in FRAMES:
            raise ValueError(f"no frame {name!r}: one of {', '.join(FRAMES)}")
        df: pl.DataFrame = getattr(self, name)
        return with_floats(df) if floats else df

    # ----------------------------------------------------------------- stats
    def benchmark(self) -> Benchmark:
        """The buy & hold benchmark: each symbol's first and last mid and its kept mids."""
        out = Benchmark()
        if self._prices is not None:  # the run's kept quotes, in price units
            names, ts, bids, asks = self._prices
        else:  # a loaded result: its prices frame, back in units
            df = self.prices
            names, ts = df["symbol"].to_list(), df["t"].to_list()
            bids, asks = ((df[c] * 10**PRICE_DP).cast(pl.Int64).to_list() for c in ("bid", "ask"))
        sym = np.asarray(names, dtype=object)
        t = np.asarray(ts, dtype=np.int64)
        mid = (np.asarray(bids, dtype=np.float64) + np.asarray(asks, dtype=np.float64)) / (
            2 * 10**PRICE_DP
        )
        for s in dict.fromkeys(names):
            mask = sym == s
            out.mids[s] = (t[mask], mid[mask])
        for s, (t, mid) in out.mids.items():
            out.first[s] = (int(t[0]), float(mid[0]))
            out.last[s] = (int(t[-1]), float(mid[-1]))
        for sym, mark in self.marks.items():
            for end in ("first", "last"):
                q = mark.get(end)
                if q is not None:
                    mid = (Decimal(q["bid"]) + Decimal(q["ask"])) / 2
                    getattr(out, end)[sym] = (q["t"], float(mid))
        return out

    def stats_rows(self) -> list[dict[str, Any]]:
        """The stats of each account as plain Python values (Decimal money)."""
        closed = self._trades.closed
        bench = self.benchmark()
        rows = []
        for name, (mode, start) in self.accounts.items():
            samples = [(s[1], s[2], s[3], s[4], s[7]) for s in self.samples if s[0] == name]
            events = (e for e in self.raw_events if e.get("account") == name)
            mine = [c for c in closed if c["account"] == name]
            rows.append(
                account_stats(name, mode, start, samples, events, mine, bench, self.symbols)
            )
        return rows

    @cached_property
    def stats(self) -> pl.DataFrame:
        """Per account: the figures of backtesting.py (exposure, return, buy & hold, annual
        return and volatility, CAGR, Sharpe, Sortino, Calmar, drawdowns, trade figures,
        profit factor, SQN...) and ours (closes by reason, margin calls, fees, swap...);
        definitions in `backtest.stats`."""
        return stats_frame(self.stats_rows())

    def summary(self) -> pl.DataFrame:
        """The stats as read: a `stat` column of labels, then one text column per account
        (fractions as %, money to the cent, durations as d hh:mm:ss), as the report shows
        them. `stats` has the typed values."""
        from .report import stat_table

        return stat_table({r["account"]: r for r in self.stats.iter_rows(named=True)})

    # ---------------------------------------------------------------- output
    def event_lines(self) -> list[str]:
        """The events and closing `account_state` lines exactly as `workbench simulate`
        prints them for the recorded scenario of this run."""
        out = io.StringIO()
        for ev in self.raw_events:
            out.write(json.dumps(ev) + "\n")
        if self.engine is not None:
            from ..scenario import write_states

            write_states(self.engine, out)
        else:
            out.writelines(line + "\n" for line in self._state_lines or ())
        return out.getvalue().splitlines()

    def plot(self, symbol: str | None = None, account: str | None = None) -> Any:
        """A bokeh layout: price with entries, exits and liquidations; equity; drawdown;
        each trade's net result; margin level."""
        from .plot import plot_result

        return plot_result(self, symbol=symbol, account=account)

    def report(
        self,
        path: str | Path,
        *,
        symbol: str | None = None,
        account: str | None = None,
        title: str | None = None,
    ) -> Path:
        """Write ONE standalone HTML page (bokeh's JS inline: no server, works offline):
        the stats table and the plots. Returns the path written."""
        from .report import write_report

        return write_report(self, path, symbol=symbol, account=account, title=title)

    @property
    def meta(self) -> dict[str, Any]:
        """What `save` writes to meta.json: symbols, data range, accounts, parameters..."""
        from .saved import metadata

        return metadata(self)

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Keep the result as a folder: one Parquet file per frame and meta.json
        (parameters, data range, symbols, engine version); `Result.load` reads it back."""
        from .saved import save_result

        return save_result(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """A result saved by `save` (frames and stats as saved; no engine)."""
        from .saved import load_result

        return load_result(path)


def _marks(first: dict[str, tuple[int, int, int]], engine: Engine | None) -> dict[str, Any]:
    out: dict[str, dict[str, Quote]] = {}
    for sym, (t, b, a) in first.items():
        mark: dict[str, Quote] = {"first": _quote(t, b, a)}
        last = engine.last_quote(sym) if engine is not None else None
        if last is not None:
            mark["last"] = {"t": last["t"], "bid": _text(last["bid"]), "ask": _text(last["ask"])}
        out[sym] = mark
    return out


def _quote(t: int, bid: int, ask: int) -> Quote:
    return {
        "t": t,
        "bid": _text(as_decimal(bid, PRICE_DP)),
        "ask": _text(as_decimal(ask, PRICE_DP)),
    }


def _text(d: Decimal) -> str:
    return format(d, "f")
