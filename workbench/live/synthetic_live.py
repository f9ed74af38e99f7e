"""Simulated quotes in real time for the live server (when Backpack is away, or on request).

`LiveSynthetic` cuts the seeded `SyntheticFeed` into short chunks (about `chunk_seconds`
of quotes, no gaps) that start at the last known bid of each symbol, so prices go on
from where the live feed left them. Quote times are offsets from the moment the run
started, in wall-clock µs, and each quote is emitted when its time comes. Symbols keep
their real names (BTC_USDC, not SIM_BTC_USDC): the feed's SIMULATED state tells users.
The same seed and start prices give the same prices and the same offsets, so the seed is
a secret: without one given, each `LiveSynthetic` draws 128 bits from os.urandom, and
nothing public (status, /health) shows it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

import numpy as np

from ..feeds.backpack_client import now_us
from ..feeds.synthetic import DEFAULT_SPECS, SymbolSpec, SyntheticFeed
from .sink import QuoteTuple

_SPECS = {s.symbol: s for s in DEFAULT_SPECS}
_DEFAULT_TICK = Decimal("0.01")
_ONE = Decimal(10) ** -8


def _spec_at(symbol: str, bid_units: int | None) -> SymbolSpec:
    """The behaviour of `symbol`, starting at `bid_units` (a tick fine enough to hold it)."""
    spec = _SPECS.get(symbol) or SymbolSpec(symbol, tick=_DEFAULT_TICK)
    if bid_units is None or bid_units <= 0:
        return spec
    price = Decimal(bid_units) * _ONE
    exp = price.normalize().as_tuple().exponent
    assert isinstance(exp, int)
    tick = min(spec.tick, Decimal(1).scaleb(exp))
    return replace(spec, price=price, tick=tick)


class LiveSynthetic:
    """Real-time simulated quotes for `symbols`, chunk after chunk; see the module docstring."""

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        seed: int | None = None,
        chunk_seconds: float = 30.0,
        mean_interval_ms: float = 250.0,
    ) -> None:
        """`seed` None: a secret random one (kept in `self.seed`, never shown: whoever has
        it can compute every price to come); `mean_interval_ms` per symbol."""
        if not symbols:
            raise ValueError("give at least one symbol to simulate")
        if seed is not None and seed < 0:
            raise ValueError("the seed must be a non-negative integer")
        if chunk_seconds <= 0 or mean_interval_ms <= 0:
            raise ValueError("chunk_seconds and mean_interval_ms must be positive")
        self.symbols = tuple(symbols)
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(16), "big")
        self.chunk_us = int(chunk_seconds * 1e6)
        self.mean_interval_ms = mean_interval_ms
        self.chunks = 0  # chunks made so far: the next chunk's place in the seeded sequence

    def chunk(self, bids: Mapping[str, int], start_us: int, *, first: bool) -> list[QuoteTuple]:
        """The next chunk from `start_us`, each symbol starting at `bids[symbol]` (1e-8 units;
        a default price when missing), in time order and ending at the same time for every
        symbol. Without `first`, the opening quote (the start price itself) is left out."""
        # 128 bits per chunk: a 32-bit chunk seed could be found by trying them all
        words = np.random.SeedSequence([self.seed, self.chunks]).generate_state(2, np.uint64)
        seed = int.from_bytes(words.tobytes(), "little")
        self.chunks += 1
        feed = SyntheticFeed(
            [_spec_at(s, bids.get(s)) for s in self.symbols],
            seed=seed,
            start_us=start_us,
            mean_interval_ms=self.mean_interval_ms,
            gaps_per_hour=0.0,
        )
        per_symbol = int(self.chunk_us / (self.mean_interval_ms * 1000) * 1.5) + 10
        data = feed.generate(per_symbol)
        code, t = data.code, data.t
        # Cut where the first symbol runs out, so every symbol is covered up to the end.
        end = min(int(t[code == k].max()) for k in range(len(self.symbols)))
        keep = t <= end
        if not first:
            keep &= data.update_id != 1
        names = self.symbols
        return [
            (names[k], ts, b, a)
            for k, ts, b, a in zip(
                code[keep].tolist(),
                t[keep].tolist(),
                data.bid[keep].tolist(),
                data.ask[keep].tolist(),
                strict=True,
            )
        ]

    async def run(
        self,
        emit: Callable[[list[QuoteTuple]], bool],
        bids: Mapping[str, int],
        start_us: int | None = None,
    ) -> None:
        """Emit quotes when their times come (from `start_us`, default now) until cancelled
        or `emit` returns False. `bids` is read at each chunk for the start prices."""
        t = now_us() if start_us is None else start_us
        first = True
        while True:
            quotes = self.chunk(bids, t, first=first)
            first = False
            i, n = 0, len(quotes)
            while i < n:
                now = now_us()
                j = i
                while j < n and quotes[j][1] <= now:
                    j += 1
                if j == i:
                    await asyncio.sleep(min((quotes[i][1] - now) / 1e6, 1.0))
                    continue
                if not emit(quotes[i:j]):
                    return
                i = j
            if n:
                t = quotes[-1][1]
