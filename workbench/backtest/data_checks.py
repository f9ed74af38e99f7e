"""Whether the data holds quotes for what a backtest asks: each symbol, in [start, end).

Called by `data.open_source` before a run reads anything, so a typo or an empty range
fails at once with `NoQuotesError` naming what is there (see `diagnose`). The checks are
cheap when the answer is yes (a `LIMIT 1` query per symbol, or arrays already in
memory); listing what the data holds is done only to word the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .diagnose import NoQuotesError, no_quotes_message


def _range(lo: int | None, hi: int | None) -> tuple[list[str], list[Any]]:
    cond: list[str] = []
    params: list[Any] = []
    if lo is not None:
        cond.append("t >= ?")
        params.append(lo)
    if hi is not None:
        cond.append("t < ?")
        params.append(hi)
    return cond, params


def sql_symbols(
    con: Any,
    relation: str,
    rel_params: list[Any],
    symbols: Sequence[str] | None,
    lo: int | None,
    hi: int | None,
    where: str,
    filters: Sequence[tuple[str, Any]] = (),
) -> list[str]:
    """The symbols to run, checked against a DuckDB relation of quotes (a table or a
    Parquet scan): `symbols` when each has a quote in [lo, hi), else NoQuotesError; all
    that have one when `symbols` is None. `filters`: extra (condition, parameter) pairs."""
    cond, params = _range(lo, hi)
    for c, p in filters:
        cond.append(c)
        params.append(p)
    if symbols is None:
        sql = f"SELECT DISTINCT symbol FROM {relation}"
        sql += (" WHERE " + " AND ".join(cond) if cond else "") + " ORDER BY symbol"
        found = [r[0] for r in con.execute(sql, [*rel_params, *params]).fetchall()]
        if not found:
            _fail(con, relation, rel_params, [], lo, hi, where, filters)
        return found
    sql = f"SELECT 1 FROM {relation} WHERE " + " AND ".join(["symbol = ?", *cond]) + " LIMIT 1"
    missing = [s for s in symbols if not con.execute(sql, [*rel_params, s, *params]).fetchall()]
    if missing:
        _fail(con, relation, rel_params, missing, lo, hi, where, filters)
    return list(symbols)


def _fail(
    con: Any,
    relation: str,
    rel_params: list[Any],
    missing: list[str],
    lo: int | None,
    hi: int | None,
    where: str,
    filters: Sequence[tuple[str, Any]],
) -> None:
    cond = [c for c, _ in filters]
    sql = f"SELECT symbol, min(t), max(t) FROM {relation}"
    sql += (" WHERE " + " AND ".join(cond) if cond else "") + " GROUP BY symbol ORDER BY symbol"
    rows = con.execute(sql, [*rel_params, *(p for _, p in filters)]).fetchall()
    spans = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    raise NoQuotesError(no_quotes_message(missing, where, list(spans), lo, hi, spans))


def array_symbols(
    names: list[str],
    k: np.ndarray,
    t: np.ndarray,
    symbols: Sequence[str] | None,
    keep: np.ndarray,
    lo: int | None,
    hi: int | None,
    where: str,
) -> list[str]:
    """The same check for quotes in memory: `names[k]` the symbol of each row, `keep` the
    rows in [lo, hi). Returns the symbols to run (those with quotes when None given)."""
    counts = np.bincount(k[keep], minlength=len(names)) if len(names) else np.zeros(0, int)
    present = [n for n, c in zip(names, counts.tolist(), strict=True) if c > 0]
    if symbols is None:
        if present:
            return present
        missing: list[str] = []
    else:
        missing = [s for s in symbols if s not in present]
        if not missing:
            return list(symbols)
    spans = {}
    for i, n in enumerate(names):
        ts = t[k == i]
        if len(ts):
            spans[n] = (int(ts.min()), int(ts.max()))
    raise NoQuotesError(no_quotes_message(missing, where, list(spans), lo, hi, spans))
