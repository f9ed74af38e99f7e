"""Quotes held in memory: Arrow tables, polars/pandas DataFrames, lists of quotes and
scenario files, as an `ArraySource` (symbol positions, times, bid/ask in 1e-8 units).

Rows keep their order within a time (a stable sort); symbols and the range are checked
as in `data.open_source` (`data_checks.array_symbols`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..domain import Instrument
from ..money import price_units
from ..store.columns import units_of
from ..store.reader import CHUNK_ROWS, QuoteChunk, TimeLike, to_us
from .data import Source
from .data_checks import array_symbols

_PRICE = pa.decimal128(18, 8)


@dataclass
class ArraySource(Source):
    """Quotes in memory: symbol positions `k` into `symbols`, times, bid/ask units."""

    k: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    t: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    bid: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    ask: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    chunk_rows: int = CHUNK_ROWS

    def count(self) -> int:
        return len(self.t)

    def chunks(self, sids: Sequence[int]) -> Iterator[QuoteChunk]:
        sid_map = np.asarray(sids, dtype=np.int64)
        one = len(self.symbols) == 1  # the common case: no per-row symbol ids to map
        for a in range(0, len(self.t), self.chunk_rows):
            b = a + self.chunk_rows
            t = self.t[a:b]
            ids = [int(sid_map[0])] * len(t) if one else sid_map[self.k[a:b]].tolist()
            yield QuoteChunk(ids, t.tolist(), self.bid[a:b].tolist(), self.ask[a:b].tolist(), t)


def as_arrow(data: Any) -> pa.Table | None:
    if isinstance(data, pa.Table):
        return data
    mod = type(data).__module__
    if mod.startswith("polars") and hasattr(data, "to_arrow"):
        return data.to_arrow()
    if mod.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    return None


def table_source(
    table: pa.Table, symbols: Sequence[str] | None, start: TimeLike, end: TimeLike
) -> ArraySource:
    """Quotes from an Arrow table with columns symbol, t, bid, ask (DECIMAL or text prices)."""
    missing = {"symbol", "t", "bid", "ask"} - set(table.column_names)
    if missing:
        raise ValueError(f"a quote table needs columns symbol, t, bid, ask; missing {missing}")
    sym = pc.dictionary_encode(table.column("symbol").combine_chunks().cast(pa.string()))
    names = sym.dictionary.to_pylist()
    k = sym.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    t = table.column("t").to_numpy().astype(np.int64)
    return _arrays(
        names,
        k,
        t,
        _units(table.column("bid"), "bid"),
        _units(table.column("ask"), "ask"),
        symbols,
        start,
        end,
        "the quote table",
    )


def _units(col: pa.ChunkedArray, what: str) -> np.ndarray:
    kind = col.type
    if pa.types.is_decimal(kind):
        if kind.scale > 8:
            return np.asarray([price_units(v, what) for v in col.to_pylist()], dtype=np.int64)
        return units_of(col.cast(_PRICE))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.asarray([price_units(v, what) for v in col.to_pylist()], dtype=np.int64)
    raise TypeError(f"column {what} is {kind}: prices must be DECIMAL or decimal text")


def quotes_source(
    quotes: Any,
    symbols: Sequence[str] | None,
    start: TimeLike,
    end: TimeLike,
    where: str = "the list of quotes",
) -> ArraySource:
    """Quotes from an iterable of Quote/Tick objects, (symbol, t, bid, ask) tuples or dicts."""
    names: dict[str, int] = {}
    ks, ts, bids, asks = [], [], [], []
    for q in quotes:
        if isinstance(q, dict):
            s, t, b, a = q["symbol"], q["t"], q["bid"], q["ask"]
        elif isinstance(q, tuple):
            s, t, b, a = q
        else:
            s, t, b, a = q.symbol, q.t, q.bid, q.ask
        ks.append(names.setdefault(s, len(names)))
        ts.append(t)
        bids.append(price_units(b, "bid"))
        asks.append(price_units(a, "ask"))
    arr = [np.asarray(x, dtype=np.int64) for x in (ks, ts, bids, asks)]
    return _arrays(list(names), *arr, symbols, start, end, where)


def scenario_source(
    path: Path, symbols: Sequence[str] | None, start: TimeLike, end: TimeLike
) -> ArraySource:
    """The instruments and quotes of a scenario file (its accounts and commands are not run)."""
    from ..scenario import parse_line

    instruments: list[Instrument] = []
    quotes: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, text in enumerate(f, start=1):
            rec = parse_line(text, lineno)
            if rec is None:
                continue
            if rec["type"] == "instrument":
                instruments.append(Instrument.from_fields(rec))
            elif rec["type"] == "quote":
                quotes.append(rec)
    src = quotes_source(quotes, symbols, start, end, f"the scenario {path}")
    src.instruments = instruments
    return src


def _arrays(
    names: list[str],
    k: np.ndarray,
    t: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    symbols: Sequence[str] | None,
    start: TimeLike,
    end: TimeLike,
    where: str,
) -> ArraySource:
    """Keep the rows of `symbols` in [start, end), in time order (a stable sort)."""
    lo, hi = to_us(start), to_us(end)
    keep = np.ones(len(t), dtype=bool)
    if lo is not None:
        keep &= t >= lo
    if hi is not None:
        keep &= t < hi
    wanted = array_symbols(names, k, t, symbols, keep, lo, hi, where)
    if wanted != names:
        pos = np.asarray(
            [wanted.index(n) if n in wanted else -1 for n in names] or [-1], dtype=np.int64
        )
        k = pos[k] if len(k) else k
        keep &= k >= 0
        names = wanted
    if not keep.all():
        k, t, bid, ask = k[keep], t[keep], bid[keep], ask[keep]
    if len(t) > 1 and not (t[1:] >= t[:-1]).all():
        order = np.argsort(t, kind="stable")
        k, t, bid, ask = k[order], t[order], bid[order], ask[order]
    return ArraySource(names, where=where, k=k, t=t, bid=bid, ask=ask)
