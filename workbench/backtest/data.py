"""Where a backtest's quotes come from, as time-ordered engine-ready chunks.

Accepted: a tick store (DuckDB file path or connection, read with `store.reader`), Parquet
files or folders (the recorder's mirror, or `partitions.write_partitions`), the real
captures (`*.ws.gz`, imported with `importers.hftbacktest` into an in-memory store), a
scenario file (`*.jsonl`: its instruments and quotes), an Arrow table / polars / pandas
DataFrame with `symbol, t, bid, ask` columns, or a list of quotes (`ticks.Quote`,
`(symbol, t, bid, ask)` tuples or dicts). Prices stay exact (ints of 1e-8) all the way.
Asking for a symbol the data lacks, or a range without quotes, raises `NoQuotesError`
naming what the data holds (`data_checks`); a Source object is used as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from ..domain import Instrument
from ..store.columns import units_of
from ..store.reader import CHUNK_ROWS, QuoteChunk, TimeLike, count_quotes, iter_quotes, to_us
from .data_checks import sql_symbols

#: Threads of the private DuckDB connections (None: DuckDB's default, all cores); sweep
#: workers set 1, since they run side by side.
THREADS: int | None = None


@dataclass
class Source:
    """Quotes of `symbols` in [start, end); `chunks(sids)` yields them with engine ids.
    `where` names the data in messages ("the tick store data/workbench.duckdb")."""

    symbols: list[str]
    instruments: list[Instrument] = field(default_factory=list)
    where: str = "the data"

    def count(self) -> int | None:
        return None

    def chunks(self, sids: Sequence[int]) -> Iterator[QuoteChunk]:
        raise NotImplementedError


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
    """A Source for any of the accepted kinds of data (see the module docstring).

    Raises NoQuotesError when a symbol of `symbols` has no quote in [start, end), or when
    nothing has (`symbols` None: the symbols that have quotes there)."""
    if isinstance(data, Source):
        return data
    if isinstance(symbols, str):
        raise TypeError(f"symbols must be a list of symbols, such as [{symbols!r}]")
    if symbols is not None and not list(symbols):
        raise ValueError("symbols is empty: give at least one symbol (None: all of them)")
    if isinstance(data, duckdb.DuckDBPyConnection):
        return _store(data, symbols, start, end, source, "the DuckDB connection")
    if isinstance(data, str | Path):
        return _path_source([Path(data)], symbols, start, end, source)
    if isinstance(data, list | tuple) and data and all(isinstance(x, str | Path) for x in data):
        return _path_source([Path(x) for x in data], symbols, start, end, source)
    from .memory import as_arrow, quotes_source, table_source

    table = as_arrow(data)
    if table is not None:
        return table_source(table, symbols, start, end)
    return quotes_source(data, symbols, start, end)


def _store(
    con: Any,
    symbols: Sequence[str] | None,
    start: TimeLike,
    end: TimeLike,
    source: str | None,
    where: str,
) -> StoreSource:
    if source:
        where += f" (source {source!r})"
    filters = [("source = ?", source)] if source else []
    cur = con.cursor()
    try:
        syms = sql_symbols(cur, "quotes", [], symbols, to_us(start), to_us(end), where, filters)
    finally:
        cur.close()
    return StoreSource(syms, where=where, con=con, start=start, end=end, source=source)


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
        return _store(con, symbols, start, end, source, _files_text("the captures", files))
    if all(n.endswith((".parquet", ".pq")) for n in names):
        strs = [str(f) for f in files]
        _check_parquet(strs)
        where = _files_text("the Parquet files", files)
        con = _connect()
        try:
            syms = sql_symbols(con, _scan(strs), [strs], symbols, to_us(start), to_us(end), where)
        finally:
            con.close()
        return ParquetSource(syms, where=where, files=strs, start=start, end=end)
    if len(files) == 1 and names[0].endswith((".jsonl", ".json")):
        from .memory import scenario_source

        return scenario_source(files[0], symbols, start, end)
    if len(files) == 1:
        from ..store.schema import connect

        con = connect(files[0], read_only=True)
        return _store(con, symbols, start, end, source, f"the tick store {files[0]}")
    raise ValueError(f"cannot tell what kind of data {paths} holds; give one kind of file")


def _files_text(what: str, files: list[Path]) -> str:
    """'the captures a.ws.gz' or 'the Parquet files in <their folder> (40 files)'."""
    if len(files) == 1:
        return f"{what} {files[0]}"
    return f"{what} in {os.path.commonpath(files)} ({len(files)} files)"
