"""The feeding loop of one backtest: quotes into the engine, hooks, samples, bars.

Two ways to feed the engine, with the same events either way:
- bulk (the fast path): when no strategy has `on_quote`, quotes go to `Engine.feed_quotes`
  in slices cut only at sampling times and bar ends; strategies react to their events,
  which the engine delivers synchronously (a command from `on_event` runs right after the
  quote that caused the event, at that quote's price: no look-ahead).
- per quote: with an `on_quote` hook, or when recording, one quote at a time, calling
  `on_quote` after each quote the engine accepted (several times slower).
Figures are sampled from `Engine.figures` on every event of an account and at every
`sample_every` of engine time.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from ..engine import Engine
from ..money import fmt_money
from ..store.reader import QuoteChunk
from .bars import BarBuilder, interval_us
from .context import Clock, Context
from .data import Source
from .recording import Recorder
from .result import Result
from .saved import strategy_params
from .strategy import Tick, hook

INF = 1 << 62
PRICE_POINTS = 20_000  # at most ~2x this many quotes kept per run for plots


@dataclass
class Slot:
    """One account and the strategy trading it."""

    name: str
    strategy: object
    ctx: Context
    options: dict[str, Any]


class Run:
    """The feeding loop of one backtest."""

    def __init__(
        self,
        engine: Engine,
        slots: list[Slot],
        src: Source,
        clock: Clock,
        bar_interval: int | None,
        sample_every: str | int | None,
        recorder: Recorder | None,
    ) -> None:
        self.engine = engine
        self.slots = slots
        self.by_name = {s.name: s for s in slots}
        self.src = src
        self.clock = clock
        self.recorder = recorder
        self.sids = [engine.symbol_id(s) for s in src.symbols]
        self.names = {sid: s for sid, s in zip(self.sids, src.symbols, strict=True)}
        names_by_id = [""] * len(engine.books)
        for sid, s in self.names.items():
            names_by_id[sid] = s
        self.builder = BarBuilder(bar_interval, names_by_id) if bar_interval else None
        self.sample_iv = interval_us(sample_every) if sample_every is not None else None
        self.next_sample = INF
        self.events: list[dict[str, Any]] = []
        self.samples: list[tuple[Any, ...]] = []
        self.hooks = {
            h: [(fn, s.ctx) for s in slots if (fn := hook(s.strategy, h))]
            for h in ("on_start", "on_quote", "on_bar", "on_event", "on_finish")
        }
        self.on_event = {s.name: hook(s.strategy, "on_event") for s in slots}
        self.per_quote = bool(self.hooks["on_quote"]) or recorder is not None
        self.quotes = 0
        self.started = False
        self.prices: list[tuple[list[int], list[int], list[int], list[int]]] = []
        self.kept = 0
        self.stride = 1
        self.offset = 0
        self.first: dict[int, tuple[int, int, int]] = {}  # each symbol's first quote
        self.params = {s.name: strategy_params(s.strategy) for s in slots}  # before any hook
        engine.subscribe(self._on_event)

    # ---------------------------------------------------------------- events
    def _on_event(self, ev: dict[str, Any]) -> None:
        self.events.append(ev)
        name = ev.get("account")
        slot = self.by_name.get(name)  # type: ignore[arg-type]
        if slot is None:
            return
        self._sample(name, ev["t"], ev["type"])  # type: ignore[arg-type]
        fn = self.on_event[name]  # type: ignore[index]
        if fn is not None:
            self.clock.t = ev["t"]
            fn(slot.ctx, ev)

    def _sample(self, name: str, t: int, kind: str, repeat: int = 1) -> None:
        f = self.engine.figures(name)
        row = (
            f["balance"],
            f["equity"],
            f["used_margin"],
            f["free_margin"],
            f["margin_level"],
            f["open_positions"],
        )
        iv = self.sample_iv or 0
        for m in range(repeat):
            self.samples.append((name, t + m * iv, kind, *row))

    # ------------------------------------------------------------------ loop
    def run(self, progress: bool) -> None:
        """Feed every quote; `on_start` once each symbol has had its first quote."""
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.src.count(), unit="quote", unit_scale=True, desc="backtest")
        waiting = set(self.sids)
        try:
            for chunk in self.src.chunks(self.sids):
                n = len(chunk)
                if n == 0:
                    continue
                self._keep_prices(chunk)
                if len(self.first) < len(self.sids):
                    self._note_first(chunk)
                if self.quotes == 0:
                    self._begin(chunk.ts[0])
                i = 0
                if not self.started:
                    j = _completing(chunk.sids, waiting)
                    if j is None:
                        self._feed(chunk, 0, n)
                    else:
                        self._feed(chunk, 0, j + 1)
                        self._start(chunk, j)
                        i = j + 1
                self._feed(chunk, i, n)
                self.quotes += n
                if bar is not None:
                    bar.update(n)
        finally:
            if bar is not None:
                bar.close()
        now = max(self.engine.now, 0)
        if self.quotes == 0:
            self._begin(now)
        if not self.started:
            if self.quotes:
                missing = [self.names[s] for s in waiting]
                warnings.warn(
                    f"no quotes for {missing}: on_start ran only at the end", stacklevel=3
                )
            self.started = True
            self._call("on_start", now)
        self._call("on_finish", now)
        for slot in self.slots:
            self._sample(slot.name, now, "end")
        if self.recorder is not None:
            self.recorder.finish([r for s in self.slots for r in s.ctx.unanswered()])

    def _feed(self, chunk: QuoteChunk, i: int, end: int) -> None:
        if i < end:
            (self._per_quote if self.per_quote else self._bulk)(chunk, i, end)

    def _call(self, hook_name: str, t: int) -> None:
        self.clock.t = t
        for fn, ctx in self.hooks[hook_name]:
            fn(ctx)

    def _header(self, t: int) -> None:
        if self.recorder is None:
            return
        insts = [self.engine.instrument(s) for s in self.src.symbols]
        accts = []
        for slot in self.slots:
            acct = self.engine.by_name[slot.name]
            rec = {
                "account": slot.name,
                "margin_mode": acct.mode,
                "balance": fmt_money(acct.demo_balance),
            }
            for k in ("maintenance_rate", "margin_call_level", "stop_out_level"):
                if k in slot.options:
                    rec[k] = str(slot.options[k])
            accts.append(rec)
        self.recorder.header(t, insts, accts)

    def _begin(self, t: int) -> None:
        """The first quote's time: scenario header, sampling clock, start samples."""
        self._header(t)
        if self.sample_iv:
            self.next_sample = (t // self.sample_iv + 1) * self.sample_iv
        for slot in self.slots:
            self._sample(slot.name, t, "start")

    def _start(self, chunk: QuoteChunk, j: int) -> None:
        """Quote j gave the last symbol its first price: `on_start`, then its `on_quote`."""
        self.started = True
        self._call("on_start", chunk.ts[j])
        self._after_quote(chunk.sids[j], chunk.ts[j], chunk.bids[j], chunk.asks[j], bars=False)

    def _feed_one(self, sid: int, t: int, b: int, a: int) -> int:
        rec = self.recorder
        if rec is None:
            return self.engine.feed_quotes((sid,), (t,), (b,), (a,))
        rec.begin_quote(self.names[sid], t, b, a)
        try:
            return self.engine.feed_quotes((sid,), (t,), (b,), (a,))
        finally:
            rec.end_quote()

    def _after_quote(self, sid: int, t: int, b: int, a: int, bars: bool = True) -> None:
        if bars and self.builder is not None:
            self.builder.add(sid, t, b, a)
        hooks = self.hooks["on_quote"]
        if hooks and self.started:
            tick = Tick(self.names[sid], t, b, a)
            self.clock.t = t
            for fn, ctx in hooks:
                fn(ctx, tick)

    def _boundary(self) -> int:
        b = self.builder
        if b is not None and b.next_end is not None and b.next_end < self.next_sample:
            return b.next_end
        return self.next_sample

    def _per_quote(self, chunk: QuoteChunk, i: int, end: int) -> None:
        sids, ts, bids, asks = chunk.sids, chunk.ts, chunk.bids, chunk.asks
        boundary = self._boundary()
        for j in range(i, end):
            t = ts[j]
            if t >= boundary:
                self._cross(t)
            sid, b, a = sids[j], bids[j], asks[j]
            if self._feed_one(sid, t, b, a):
                self._after_quote(sid, t, b, a)
            boundary = self._boundary()

    def _bulk(self, chunk: QuoteChunk, i: int, n: int) -> None:
        sids, ts, bids, asks, t_arr = chunk.sids, chunk.ts, chunk.bids, chunk.asks, chunk.t_array
        feed = self.engine.feed_quotes
        arrays = None
        if self.builder is not None:
            arrays = (np.asarray(sids), t_arr, np.asarray(bids), np.asarray(asks))
        last = ts[n - 1]
        whole = len(ts)
        builder = self.builder
        while i < n:
            nb = self._boundary()
            if builder is not None and builder.next_end is None:  # cut at this quote's bucket
                nb = min(nb, ts[i] - ts[i] % builder.interval + builder.interval)
            j = n if nb > last else i + int(np.searchsorted(t_arr[i:n], nb, "left"))
            if j > i:
                if i == 0 and j == whole:
                    feed(sids, ts, bids, asks)
                else:
                    feed(sids[i:j], ts[i:j], bids[i:j], asks[i:j])
                if arrays is not None and builder is not None:
                    s, t, b, a = arrays
                    builder.add_many(s[i:j], t[i:j], b[i:j], a[i:j])
            if j < n:
                self._cross(ts[j])
            i = j

    def _cross(self, t: int) -> None:
        """Engine time reaches t: take the samples and hand out the bars due by then."""
        b = self.builder
        while True:
            bar_end = b.next_end if b is not None and b.next_end is not None else INF
            stop = min(t, bar_end)
            if self.next_sample <= stop:
                iv = self.sample_iv or INF
                k = (stop - self.next_sample) // iv + 1
                for slot in self.slots:
                    self._sample(slot.name, self.next_sample, "interval", k)
                self.next_sample += k * iv
            if b is None or bar_end > t:
                return
            self.clock.t = self.clock.cmd_t = bar_end
            try:
                for bar in b.due(bar_end):
                    for fn, ctx in self.hooks["on_bar"]:
                        fn(ctx, bar)
            finally:
                self.clock.cmd_t = None

    def _note_first(self, chunk: QuoteChunk) -> None:
        for sid in set(self.sids) - set(self.first):
            with contextlib.suppress(ValueError):
                j = chunk.sids.index(sid)
                self.first[sid] = (chunk.ts[j], chunk.bids[j], chunk.asks[j])

    def _keep_prices(self, chunk: QuoteChunk) -> None:
        """Every `stride`-th quote, for plots; the stride doubles as the run grows."""
        n, s, off = len(chunk), self.stride, self.offset
        if off < n:
            self.prices.append(
                (chunk.sids[off::s], chunk.ts[off::s], chunk.bids[off::s], chunk.asks[off::s])
            )
            taken = (n - 1 - off) // s + 1
            self.kept += taken
            self.offset = off + taken * s - n
        else:
            self.offset = off - n
        if self.kept > 2 * PRICE_POINTS:
            merged = [list(chain.from_iterable(p[k] for p in self.prices)) for k in range(4)]
            m = len(merged[0])
            self.prices = [(merged[0][::2], merged[1][::2], merged[2][::2], merged[3][::2])]
            self.kept = len(self.prices[0][0])
            if m % 2 == 1:  # the last kept quote stays: the next is a full new stride on
                self.offset += s
            self.stride = s * 2

    # ---------------------------------------------------------------- result
    def result(self, wall_s: float) -> Result:
        cols = [list(chain.from_iterable(p[k] for p in self.prices)) for k in range(4)]
        accounts = {
            s.name: (self.engine.by_name[s.name].mode, self.engine.by_name[s.name].demo_balance)
            for s in self.slots
        }
        return Result(
            raw_events=self.events,
            samples=self.samples,
            accounts=accounts,
            symbols=self.src.symbols,
            prices=([self.names[s] for s in cols[0]], cols[1], cols[2], cols[3]),
            engine=self.engine,
            rejections=sorted(
                (r for s in self.slots for r in s.ctx.rejections), key=lambda r: r["seq"]
            ),
            quotes=self.quotes,
            sample_every=self.sample_iv,
            wall_s=wall_s,
            first_quotes={self.names[s]: q for s, q in self.first.items()},
            params=self.params,
        )


def _completing(sids: list[int], waiting: set[int]) -> int | None:
    """Index of the quote giving the last symbol in `waiting` its first quote, or None
    (then `waiting` loses the symbols this chunk has)."""
    found = {}
    for sid in waiting:
        with contextlib.suppress(ValueError):
            found[sid] = sids.index(sid)
    if len(found) == len(waiting):
        return max(found.values(), default=0)
    waiting.difference_update(found)
    return None
