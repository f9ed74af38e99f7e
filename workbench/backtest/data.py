"""Where a backtest's quotes come from, as time-ordered engine-ready chunks.

Accepted: a tick store (DuckDB file path or connection, read with `store.reader`), Parquet
files or folders (the recorder's mirror, or `partitions.write_partitions`), the real
captures (`*.ws.gz`, imported with `importers.hftbacktest` into an in-memory store), a
scenario file (`*.jsonl`: its instruments and quotes), an Arrow table / polars / pandas
DataFrame with `symbol, t, bid, ask` columns, or a list of quotes (`ticks.Quote`,
`(symbol, t, bid, ask)` tuples or dicts). Prices stay exact (ints of 1e-8) all the way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..domain import Instrument
from ..money import price_units
from ..store.columns import units_of
from ..store.reader import CHUNK_ROWS, QuoteChunk, TimeLike, count_quotes, iter_quotes, to_us

_PRICE = pa.decimal128(18, 8)
#: Threads of the private DuckDB connections (None: DuckDB's default, all cores); sweep
#: workers set 1, since they run side by side.
THREADS: int | None = None


@dataclass
class Source:
    """Quotes of `symbols` in [start, end); `chunks(sids)` yields them with engine ids."""

    symbols: list[str]
    instruments: list[Instrument] = field(default_factory=list)

    def count(self) -> int | None:
        return None

    def chunks(self, sids: Sequence[int]) -> Iterator[QuoteChunk]:
        raise NotImplementedError


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


@dataclass
class StoreSource(Source):
    """Quotes read from a tick store through `store.reader.iter_quotes`."""

    con: Any = None
    start: TimeLike = None
    end: TimeLike = None
    source: str | None = None

    def count(self) -> int:
        return count_quotes(self.con, self.symbols, self.start, self.end, source=self.source)

    def chunks(self, sids: Sequence[int]) -> Iterator[QuoteChunk]:
        yield from iter_quotes(
            self.con, self.symbols, self.start, self.end, sids=sids, source=self.source
        )


@dataclass
class ParquetSource(Source):
    """Quotes read from Parquet files (a `symbol` column or a `symbol=S` folder each)."""

    files: list[str] = field(default_factory=list)
    start: TimeLike = None
    end: TimeLike = None

    def _where(self) -> tuple[str, list[Any]]:
        cond, params = ["list_contains(?, symbol)"], [self.symbols]
        lo, hi = to_us(self.start), to_us(self.end)
        if lo is not None:
            cond.append("t >= ?")
            params.append(lo)
        if hi is not None:
            cond.append("t < ?")
            params.append(hi)
        return " AND ".join(cond), params

    def count(self) -> int:
        where, params = self._where()
        con = _connect()
        try:
            rows = con.execute(
                f"SELECT count(*) FROM {_scan(self.files)} WHERE {where}", [self.files, *params]
            ).fetchall()
        finally:
            con.close()
        return int(rows[0][0])

    def chunks(self, sids: Sequence[int]) -> Iterator[QuoteChunk]:
        where, params = self._where()
        sid_map = np.asarray(sids, dtype=np.int64)
        sql = (
            f"SELECT CAST(list_position(?, symbol) - 1 AS INTEGER) AS k, t, "
            f"CAST(bid AS DECIMAL(18, 8)), CAST(ask AS DECIMAL(18, 8)) "
            f"FROM {_scan(self.files)} WHERE {where} "
            f"ORDER BY t, k, filename, file_row_number"
        )
        con = _connect()
        try:
            rel = con.sql(sql, params=[self.symbols, self.files, *params])
            for batch in rel.to_arrow_reader(CHUNK_ROWS):
                if batch.num_rows == 0:
                    continue
                t = batch.column(1).to_numpy()
                yield QuoteChunk(
                    sid_map[batch.column(0).to_numpy()].tolist(),
                    t.tolist(),
                    units_of(batch.column(2)).tolist(),
                    units_of(batch.column(3)).tolist(),
                    t,
                )
        finally:
            con.close()


_BASE: list[Any] = []  # this process's in-memory DuckDB (connecting costs ~12 ms)


def _connect() -> duckdb.DuckDBPyConnection:
    """A cursor of a private in-memory DuckDB: quiet, with THREADS threads if set."""
    if not _BASE:
        _BASE.extend([duckdb.connect(), None])
    if THREADS is not None and _BASE[1] != THREADS:
        _BASE[0].execute(f"SET GLOBAL threads = {int(THREADS)}")
        _BASE[1] = THREADS
    cur = _BASE[0].cursor()
    cur.execute("SET enable_progress_bar = false")
    return cur


def _scan(files: list[str]) -> str:
    return (
        "read_parquet(?, hive_partitioning = true, union_by_name = true, "
        "filename = true, file_row_number = true)"
    )


def parquet_symbols(files: list[str]) -> list[str]:
    con = _connect()
    try:
        rows = con.execute(
            f"SELECT DISTINCT symbol FROM {_scan(files)} ORDER BY symbol", [files]
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _check_parquet(files: list[str]) -> None:
    """Refuse float price columns: binary floating point cannot hold prices exactly."""
    con = _connect()
    try:
        cols = con.execute(f"DESCRIBE SELECT bid, ask FROM {_scan(files)}", [files]).fetchall()
    finally:
        con.close()
    for name, kind, *_ in cols:
        if kind.upper() in ("FLOAT", "DOUBLE", "REAL"):
            raise TypeError(f"Parquet column {name} is {kind}: prices must be DECIMAL or text")


def open_source(
    data: Any,
    symbols: Sequence[str] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    source: str | None = None,
) -> Source:
    """A Source for any of the accepted kinds of data (see the module docstring)."""
    if isinstance(data, Source):
        return data
    if isinstance(data, duckdb.DuckDBPyConnection):
        return _store(data, symbols, start, end, source)
    if isinstance(data, str | Path):
        return _path_source([Path(data)], symbols, start, end, source)
    if isinstance(data, list | tuple) and data and all(isinstance(x, str | Path) for x in data):
        return _path_source([Path(x) for x in data], symbols, start, end, source)
    table = _as_arrow(data)
    if table is not None:
        return table_source(table, symbols, start, end)
    return quotes_source(data, symbols, start, end)


def _store(
    con: Any, symbols: Sequence[str] | None, start: TimeLike, end: TimeLike, source: str | None
) -> StoreSource:
    if symbols is None:
        sql = "SELECT DISTINCT symbol FROM quotes"
        rows = con.execute(
            sql + (" WHERE source = ?" if source else "") + " ORDER BY symbol",
            [source] if source else [],
        ).fetchall()
        symbols = [r[0] for r in rows]
    return StoreSource(list(symbols), con=con, start=start, end=end, source=source)


def _path_source(
    paths: list[Path],
    symbols: Sequence[str] | None,
    start: TimeLike,
    end: TimeLike,
    source: str | None,
) -> Source:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            if (p / "quotes").is_dir():  # the recorder's mirror: quotes/, trades/, gaps/
                p = p / "quotes"
            found = sorted(p.glob("*.ws.gz")) or sorted(p.rglob("*.parquet"))
            if not found:
                raise FileNotFoundError(f"{p} holds no *.ws.gz captures or *.parquet files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    names = [f.name.lower() for f in files]
    if all(n.endswith(".ws.gz") for n in names):
        from ..importers.hftbacktest import import_captures
        from ..store.schema import connect

        con = connect(":memory:")
        import_captures(con, files)
        return _store(con, symbols, start, end, source)
    if all(n.endswith((".parquet", ".pq")) for n in names):
        strs = [str(f) for f in files]
        _check_parquet(strs)
        syms = list(symbols) if symbols is not None else parquet_symbols(strs)
        return ParquetSource(syms, files=strs, start=start, end=end)
    if len(files) == 1 and names[0].endswith((".jsonl", ".json")):
        return scenario_source(files[0], symbols, start, end)
    if len(files) == 1:
        from ..store.schema import connect

        return _store(connect(files[0], read_only=True), symbols, start, end, source)
    raise ValueError(f"cannot tell what kind of data {paths} holds; give one kind of file")


def _as_arrow(data: Any) -> pa.Table | None:
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
    quotes: Any, symbols: Sequence[str] | None, start: TimeLike, end: TimeLike
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
    return _arrays(list(names), *arr, symbols, start, end)


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
    src = quotes_source(quotes, symbols, start, end)
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
) -> ArraySource:
    """Keep the rows of `symbols` in [start, end), in time order (a stable sort)."""
    keep = np.ones(len(t), dtype=bool)
    if symbols is not None:
        wanted = list(symbols)
        pos = np.asarray(
            [wanted.index(n) if n in wanted else -1 for n in names] or [-1], dtype=np.int64
        )
        k = pos[k] if len(k) else k
        keep &= k >= 0
        names = wanted
    lo, hi = to_us(start), to_us(end)
    if lo is not None:
        keep &= t >= lo
    if hi is not None:
        keep &= t < hi
    if not keep.all():
        k, t, bid, ask = k[keep], t[keep], bid[keep], ask[keep]
    if len(t) > 1 and not (t[1:] >= t[:-1]).all():
        order = np.argsort(t, kind="stable")
        k, t, bid, ask = k[order], t[order], bid[order], ask[order]
    return ArraySource(names, k=k, t=t, bid=bid, ask=ask)
