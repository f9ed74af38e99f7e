"""A seeded synthetic quote feed for offline use. Every output is SIMULATED data.

The mid follows a geometric Brownian motion whose volatility switches between a calm and
a volatile regime; the spread is a whole number of ticks that widens in the volatile
regime; quotes arrive as a Poisson process with occasional gaps (recorded as gaps).
Symbols always carry the `SIM_` prefix and rows are stored with source 'synthetic', so
simulated prices cannot pass for market data. The same seed gives the same quotes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from ..importers import ImportResult
from ..money import price_units, qty_units
from ..store.columns import decimal_array
from ..store.writer import insert_quotes
from ..ticks import Quote

SOURCE = "synthetic"
LABEL = "SIMULATED"
PREFIX = "SIM_"
GAP_REASON = "simulated gap (SIMULATED data)"
DEFAULT_START_US = 1_704_067_200_000_000  # 2024-01-01 00:00:00 UTC
_YEAR_US = 365 * 86_400 * 1_000_000


def sim_symbol(symbol: str) -> str:
    """The simulated name of a symbol: 'BTC_USDC' -> 'SIM_BTC_USDC' (kept if already SIM_)."""
    return symbol if symbol.startswith(PREFIX) else PREFIX + symbol


def is_simulated(symbol: str) -> bool:
    return symbol.startswith(PREFIX)


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """How one simulated instrument behaves. `vol` is the calm annualised volatility."""

    symbol: str
    price: Decimal = Decimal(60_000)
    tick: Decimal = Decimal("0.1")
    vol: float = 0.6
    spread_ticks: int = 1
    qty: Decimal = Decimal("1")
    qty_step: Decimal = Decimal("0.00001")


DEFAULT_SPECS = (
    SymbolSpec("BTC_USDC", Decimal(60_000), Decimal("0.1"), 0.6, 1, Decimal("0.5")),
    SymbolSpec("ETH_USDC", Decimal(2_600), Decimal("0.01"), 0.8, 1, Decimal("5")),
    SymbolSpec("SOL_USDC", Decimal(150), Decimal("0.01"), 1.0, 1, Decimal("50")),
)


@dataclass(frozen=True)
class SyntheticQuotes:
    """Columns of simulated quotes in time order (prices/qty in 1e-8 units) and their gaps."""

    symbols: tuple[str, ...]
    code: np.ndarray  # index into `symbols`
    t: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    update_id: np.ndarray
    gaps: tuple[tuple[str, int, int], ...]
    label: str = LABEL

    def __len__(self) -> int:
        return len(self.t)

    def to_arrow(self) -> pa.Table:
        """The quotes as an Arrow table in the store's column layout (source 'synthetic')."""
        n = len(self.t)
        names = pa.array(self.symbols, pa.string())
        sym = pa.DictionaryArray.from_arrays(pa.array(self.code, pa.int32()), names)
        return pa.table(
            {
                "symbol": sym,
                "t": self.t,
                "e": pa.nulls(n, pa.int64()),
                "recv": self.t,
                "bid": decimal_array(self.bid),
                "ask": decimal_array(self.ask),
                "bid_qty": decimal_array(self.bid_qty, precision=38),
                "ask_qty": decimal_array(self.ask_qty, precision=38),
                "update_id": self.update_id,
                "source": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(n, dtype=np.int32)), pa.array([SOURCE])
                ),
                "n": np.arange(n, dtype=np.int64),
            }
        )

    def quotes(self) -> Iterator[Quote]:
        """The quotes as Quote records (exact Decimals)."""
        one = Decimal(10) ** -8
        for i in range(len(self.t)):
            yield Quote(
                symbol=self.symbols[int(self.code[i])], t=int(self.t[i]), recv=int(self.t[i]),
                bid=Decimal(int(self.bid[i])) * one, ask=Decimal(int(self.ask[i])) * one,
                bid_qty=Decimal(int(self.bid_qty[i])) * one,
                ask_qty=Decimal(int(self.ask_qty[i])) * one, update_id=int(self.update_id[i]),
            )  # fmt: skip


class _Series(NamedTuple):
    t: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    update_id: np.ndarray
    gaps: list[tuple[int, int]]


class SyntheticFeed:
    """Simulated quotes for `specs` (or symbol names with default behaviour), from `seed`."""

    def __init__(
        self,
        specs: Sequence[SymbolSpec | str] = DEFAULT_SPECS,
        *,
        seed: int,
        start_us: int = DEFAULT_START_US,
        mean_interval_ms: float = 100.0,
        gaps_per_hour: float = 0.5,
        gap_seconds: tuple[float, float] = (5.0, 120.0),
        calm_minutes: float = 45.0,
        volatile_minutes: float = 10.0,
        volatile_mult: float = 4.0,
    ) -> None:
        by_name = {s.symbol: s for s in DEFAULT_SPECS}
        self.specs = [
            s if isinstance(s, SymbolSpec) else by_name.get(s, SymbolSpec(s)) for s in specs
        ]
        if not self.specs:
            raise ValueError("give at least one symbol")
        self.symbols = tuple(sim_symbol(s.symbol) for s in self.specs)
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must be distinct")
        self.seed = seed
        self.start_us = start_us
        self.mean_interval_us = mean_interval_ms * 1000.0
        self.gaps_per_hour = gaps_per_hour
        self.gap_us = (gap_seconds[0] * 1e6, gap_seconds[1] * 1e6)
        self.calm_us = calm_minutes * 60e6
        self.volatile_us = volatile_minutes * 60e6
        self.volatile_mult = volatile_mult

    def generate(self, n_per_symbol: int) -> SyntheticQuotes:
        """`n_per_symbol` quotes for each symbol, merged in time order (ties: symbol order)."""
        seqs = np.random.SeedSequence(self.seed).spawn(len(self.specs))
        parts = [
            self._one(spec, np.random.default_rng(ss), n_per_symbol)
            for spec, ss in zip(self.specs, seqs, strict=True)
        ]
        code = np.concatenate([np.full(n_per_symbol, i, dtype=np.int32) for i in range(len(parts))])
        cols = [np.concatenate([p[k] for p in parts]) for k in range(6)]  # t .. update_id
        order = np.argsort(cols[0], kind="stable")
        gaps = tuple((self.symbols[i], a, b) for i, p in enumerate(parts) for a, b in p.gaps)
        t, bid, ask, bq, aq, uid = (c[order] for c in cols)
        return SyntheticQuotes(self.symbols, code[order], t, bid, ask, bq, aq, uid, gaps)

    def _one(self, spec: SymbolSpec, rng: np.random.Generator, n: int) -> _Series:
        """Times, bid, ask, qtys, update ids and gaps of one symbol."""
        dt = np.maximum(1.0, rng.exponential(self.mean_interval_us, n))
        p_gap = self.gaps_per_hour * self.mean_interval_us / 3.6e9
        gap_at = rng.random(n) < p_gap
        gap_at[0] = False
        gap_len = rng.uniform(*self.gap_us, n)
        dt = np.where(gap_at, dt + gap_len, dt).astype(np.int64)
        dt[0] = 0
        t = self.start_us + np.cumsum(dt)
        gaps = [(int(t[i - 1]), int(t[i])) for i in np.flatnonzero(gap_at)]
        volatile = self._regimes(rng, t)
        step = spec.vol / np.sqrt(_YEAR_US) * np.sqrt(np.maximum(dt, 1).astype(np.float64))
        step *= np.where(volatile, self.volatile_mult, 1.0)
        step[0] = 0.0
        shocks = rng.standard_normal(n) * step
        log_mid = np.cumsum(shocks - 0.5 * step * step)
        tick = price_units(spec.tick, "tick")
        mid_ticks = np.rint(float(spec.price / spec.tick) * np.exp(log_mid)).astype(np.int64)
        widen = rng.geometric(np.where(volatile, 0.35, 0.8)) - 1
        spread = spec.spread_ticks + widen
        bid_ticks = np.maximum(mid_ticks - spread // 2, 1)
        bid = bid_ticks * tick
        ask = (bid_ticks + spread) * tick
        step_units = qty_units(spec.qty_step, "qty_step")
        mean_steps = max(1.0, float(spec.qty / spec.qty_step))
        bq = np.maximum(1, np.rint(rng.lognormal(0.0, 1.0, n) * mean_steps)).astype(np.int64)
        aq = np.maximum(1, np.rint(rng.lognormal(0.0, 1.0, n) * mean_steps)).astype(np.int64)
        uid = np.arange(1, n + 1, dtype=np.int64)
        return _Series(t, bid, ask, bq * step_units, aq * step_units, uid, gaps)

    def _regimes(self, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
        """True where the volatile regime holds: alternating calm/volatile spells."""
        span = float(t[-1] - t[0]) + 1.0
        mean = (self.calm_us + self.volatile_us) / 2
        k = int(span / mean) * 2 + 4
        while True:
            lengths = np.where(
                np.arange(k) % 2 == 0,
                rng.exponential(self.calm_us, k),
                rng.exponential(self.volatile_us, k),
            )
            edges = t[0] + np.cumsum(lengths)
            if edges[-1] > t[-1]:
                break
            k *= 2
        return np.searchsorted(edges, t, side="right") % 2 == 1

    def write(self, con: duckdb.DuckDBPyConnection, n_per_symbol: int) -> ImportResult:
        """Generate and store quotes (source 'synthetic') and gaps; idempotent for a seed."""
        data = self.generate(n_per_symbol)
        table = data.to_arrow()
        con = con.cursor()  # our own session for the transaction
        con.register("_syn_q", table)
        con.execute("BEGIN TRANSACTION")
        try:
            added = insert_quotes(con, "_syn_q")
            for sym, a, b in data.gaps:
                con.execute(
                    """INSERT INTO gaps SELECT $s, $a, $b, $r, $src WHERE NOT EXISTS
                       (SELECT 1 FROM gaps WHERE symbol = $s AND start_us = $a AND end_us = $b
                        AND source = $src)""",
                    {"s": sym, "a": a, "b": b, "r": GAP_REASON, "src": SOURCE},
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("_syn_q")
            con.close()
        return ImportResult(quotes=added, quotes_read=len(data))
