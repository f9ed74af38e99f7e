"""Seeded synthetic quote streams for the benchmarks (ints in 1e-8 price units)."""

from __future__ import annotations

import numpy as np

BASES = {"BTC_USDC": 60_000.0, "ETH_USDC": 2_500.0, "SOL_USDC": 150.0}
TICKS = {"BTC_USDC": 0.1, "ETH_USDC": 0.01, "SOL_USDC": 0.01}


def random_walk(
    symbol: str, n: int, *, seed: int, vol_per_quote: float = 0.00005, spread_ticks: int = 1
) -> tuple[list[int], list[int]]:
    """Bids and asks of a geometric random walk on the symbol's tick grid."""
    rng = np.random.default_rng(seed)
    mid = BASES[symbol] * np.exp(np.cumsum(rng.normal(0.0, vol_per_quote, n)))
    tick = TICKS[symbol]
    bid_ticks = np.floor(mid / tick).astype(np.int64)
    unit = round(tick * 1e8)
    bids = bid_ticks * unit
    asks = bids + spread_ticks * unit
    return bids.tolist(), asks.tolist()


def interleaved(
    sids: dict[str, int], n: int, *, seed: int, t0: int, step_us: int = 1000
) -> tuple[list[int], list[int], list[int], list[int]]:
    """n quotes cycling over the symbols, one every step_us microseconds."""
    per = n // len(sids) + 1
    walks = {s: random_walk(s, per, seed=seed + i) for i, s in enumerate(sids)}
    names = list(sids)
    out_s, out_t, out_b, out_a = [], [], [], []
    for k in range(n):
        s = names[k % len(names)]
        b, a = walks[s]
        out_s.append(sids[s])
        out_t.append(t0 + k * step_us)
        out_b.append(b[k // len(names)])
        out_a.append(a[k // len(names)])
    return out_s, out_t, out_b, out_a
