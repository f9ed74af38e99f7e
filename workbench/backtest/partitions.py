"""Quotes as Parquet partitions, one file per symbol and UTC day, written once.

    <root>/quotes/symbol=<S>/date=<YYYY-MM-DD>/part-0.parquet   (symbol, t, bid, ask)

The layout of the recorder's live mirror (`store.live`), so any engine (DuckDB, Spark,
Ray Data) reads it. Sweeps hand these paths to their workers instead of pickled frames.
A symbol's files are reused when `_span.json` beside them says they were written for a
span holding [start, end); otherwise they are written again (delete the folder after the
data changed). Partitions given as the data itself are used as they are. Each file is
written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..domain import Instrument
from ..store.columns import decimal_array
from ..store.live import utc_date
from ..store.reader import TimeLike, to_us
from .data import ParquetSource, open_source

DAY_US = 86_400_000_000


def _symbol_dir(root: Path, symbol: str) -> Path:
    return root / "quotes" / f"symbol={symbol}"


def _listing(root: Path, symbol: str) -> dict[str, str]:
    """{day: path} of a symbol's written partitions."""
    return {
        d.name.removeprefix("date="): str(d / "part-0.parquet")
        for d in sorted(_symbol_dir(root, symbol).glob("date=*"))
    }


def write_partitions(
    data: Any,
    root: str | Path,
    symbols: Sequence[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    source: str | None = None,
) -> tuple[dict[str, dict[str, str]], list[Instrument]]:
    """Write the quotes of `data` in [start, end) as one Parquet file per symbol and day.

    Returns ({symbol: {day: path}}, the instruments the data declares (scenario files)).
    """
    root = Path(root)
    lo, hi = to_us(start), to_us(end)
    src = open_source(data, symbols, start, end, source=source)
    if isinstance(src, ParquetSource) and all(_inside(f, root) for f in src.files):
        return {s: _listing(root, s) for s in src.symbols}, src.instruments  # already here
    todo = [s for s in src.symbols if not _covers(_symbol_dir(root, s) / "_span.json", lo, hi)]
    if todo:
        for s in todo:
            shutil.rmtree(_symbol_dir(root, s), ignore_errors=True)
        _write(src.chunks(range(len(src.symbols))), src.symbols, set(todo), root)
        for s in todo:
            d = _symbol_dir(root, s)
            d.mkdir(parents=True, exist_ok=True)
            (d / "_span.json").write_text(json.dumps({"start": lo, "end": hi}))
    return {s: _listing(root, s) for s in src.symbols}, src.instruments


def _inside(path: str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def _covers(marker: Path, lo: int | None, hi: int | None) -> bool:
    """Whether the span written (per `marker`) holds all of [lo, hi)."""
    try:
        span = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    a, b = span.get("start"), span.get("end")
    return (a is None or (lo is not None and a <= lo)) and (
        b is None or (hi is not None and b >= hi)
    )


def _write(chunks: Iterable[Any], symbols: list[str], todo: set[str], root: Path) -> None:
    """Stream time-ordered chunks into per-(symbol, day) files, for the symbols in `todo`."""
    bufs: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    days: dict[int, int] = {}
    for chunk in chunks:
        k = np.asarray(chunk.sids, dtype=np.int64)
        t = np.asarray(chunk.t_array, dtype=np.int64)
        bid = np.asarray(chunk.bids, dtype=np.int64)
        ask = np.asarray(chunk.asks, dtype=np.int64)
        for sym in np.unique(k).tolist():
            if symbols[sym] not in todo:
                continue
            m = k == sym
            ts, bs, as_ = t[m], bid[m], ask[m]
            day = ts // DAY_US
            cuts = np.flatnonzero(np.diff(day)) + 1
            for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(ts)], strict=True):
                d = int(day[a])
                if days.get(sym, d) != d:
                    _flush(root, symbols[sym], days[sym], bufs.pop(sym))
                days[sym] = d
                bufs.setdefault(sym, []).append((ts[a:b], bs[a:b], as_[a:b]))
    for sym, parts in bufs.items():
        _flush(root, symbols[sym], days[sym], parts)


def _flush(root: Path, symbol: str, day: int, parts: list[tuple[np.ndarray, ...]]) -> None:
    t = np.concatenate([p[0] for p in parts])
    bid = np.concatenate([p[1] for p in parts])
    ask = np.concatenate([p[2] for p in parts])
    table = pa.table(
        {
            "symbol": pa.array([symbol] * len(t), pa.string()),
            "t": pa.array(t, pa.int64()),
            "bid": decimal_array(bid),
            "ask": decimal_array(ask),
        }
    )
    folder = _symbol_dir(root, symbol) / f"date={utc_date(day * DAY_US)}"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".part-0.parquet.{os.getpid()}.tmp"
    pq.write_table(table, tmp)
    tmp.replace(folder / "part-0.parquet")
