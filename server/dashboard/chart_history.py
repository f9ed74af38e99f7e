"""The past of a chart, read from the databases (DuckDB statements: run them in a thread).

- `stored_candles`: the candles of a symbol before a time, from the tick store's recorded
  quotes (`workbench.candles`, mid prices) and, where no quotes are, the klines
  backfilled from Backpack's REST API (see chart_backfill); and whether any of them are
  simulated (source 'synthetic').
- `account_marks`: an account's entries, exits and liquidations of a symbol, from the
  history database's events, so they survive a switch of instrument and a reload.
- `merge_past`: that past joined to the candles the producer built since the start.

Floats: they are only plotted.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from workbench.candles import INTERVALS, candles_table
from workbench.live.history import History

Candles = dict[str, list[Any]]  # t (candle start, ms), open, high, low, close
Mark = tuple[float, float, str, str]  # t (ms), price, kind, label (see PriceChart.mark)
COLUMNS = ("open", "high", "low", "close")
SIMULATED_SOURCE = "synthetic"
KEEP_MARKS = 200  # the newest marks read for a chart


def empty() -> Candles:
    return {"t": [], "open": [], "high": [], "low": [], "close": []}


def interval_of(seconds: int) -> str:
    """The tick store's name of a candle frame (`1s`, `1m`, ...)."""
    for name, us in INTERVALS.items():
        if us == seconds * 1_000_000:
            return name
    raise ValueError(f"no candle interval of {seconds} s")


def stored_candles(
    con: duckdb.DuckDBPyConnection, symbol: str, seconds: int, end_us: int, limit: int
) -> tuple[Candles, bool]:
    """The candles of `symbol` in frames of `seconds` in the `limit` frames before
    `end_us` (older ones are another time: a recording of last year is no history of
    now): from the recorded quotes, else from stored klines of that interval; and whether
    any of them are simulated."""
    interval = interval_of(seconds)
    iv = seconds * 1_000_000
    lo = (end_us // iv - limit) * iv
    rows: dict[int, tuple[float, ...]] = {}
    simulated = False
    cur = con.cursor()
    try:
        for start, *ohlc, sim in cur.execute(
            """SELECT start_us, any_value(open::DOUBLE), any_value(high::DOUBLE),
                      any_value(low::DOUBLE), any_value(close::DOUBLE),
                      bool_or(source = $sim)
               FROM klines WHERE symbol = $s AND interval = $i AND start_us >= $lo
                   AND start_us < $end
               GROUP BY start_us""",
            {"s": symbol, "i": interval, "lo": lo, "end": end_us, "sim": SIMULATED_SOURCE},
        ).fetchall():
            rows[int(start) // 1000] = tuple(ohlc)
            simulated = simulated or bool(sim)
        table = candles_table(con, symbol, interval, start=lo, end=end_us)
        starts = table.column("start").to_pylist()
        cols = [table.column(c).cast(pa.float64()).to_pylist() for c in COLUMNS]
        for i, start in enumerate(starts):
            rows[int(start) // 1000] = tuple(c[i] for c in cols)
        if starts:
            (sim,) = cur.execute(
                "SELECT bool_or(source = ?) FROM quotes WHERE symbol = ? AND t >= ? AND t < ?",
                [SIMULATED_SOURCE, symbol, lo, end_us],
            ).fetchone() or (False,)
            simulated = simulated or bool(sim)
    finally:
        cur.close()
    out = empty()
    for t in sorted(rows)[-limit:]:
        out["t"].append(t)
        for k, v in zip(COLUMNS, rows[t], strict=True):
            out[k].append(v)
    return out, simulated


def merge_past(past: Candles, live: Candles, keep: int) -> Candles:
    """`past` then `live`, at most the last `keep` candles. Past candles from the first
    live one's start on are dropped, except that one's own: it joins the live one (the
    past's open, the higher high, the lower low, the live close): the producer began it
    part-way, the tick store has it from its start."""
    if not past["t"]:
        return live
    first = live["t"][0] if live["t"] else None
    n = len(past["t"]) if first is None else sum(1 for t in past["t"] if t < first)
    out: Candles = {k: list(past[k][:n]) + list(live[k]) for k in ("t", *COLUMNS)}
    if first is not None and n < len(past["t"]) and past["t"][n] == first:
        out["open"][n] = past["open"][n]
        out["high"][n] = max(past["high"][n], live["high"][0])
        out["low"][n] = min(past["low"][n], live["low"][0])
    return {k: v[-keep:] for k, v in out.items()}


def mark_of(ev: dict[str, Any]) -> Mark | None:
    """The chart mark of an `opened`, `reduced` or `closed` event (the same as the live
    page draws from a push), else None."""
    kind = ev.get("type")
    if kind not in ("opened", "closed", "reduced"):
        return None
    t, price = ev["t"] / 1000, float(ev["price"])
    if kind == "opened":
        return t, price, ev["side"], f"{ev['side']} {ev['qty']} at {ev['price']}"
    if kind == "reduced":
        return t, price, "exit", (f"closed {ev['qty']} at {ev['price']}: pnl {ev['pnl']}, "
                                  f"{ev['remaining_qty']} left")  # fmt: skip
    what = "liquidation" if ev["reason"] in ("liquidation", "stop_out") else "exit"
    return t, price, what, f"{ev['reason']} at {ev['price']}: pnl {ev['pnl']}"


def account_marks(
    history: History, account: str, symbol: str, limit: int = KEEP_MARKS
) -> list[Mark]:
    """The newest `limit` marks of `account` on `symbol` (entries, exits, liquidations),
    oldest first, from the stored events."""
    sql = """
        SELECT body FROM events
        WHERE account = $a AND type IN ('opened', 'closed', 'reduced') AND ref IN (
            SELECT ref FROM events WHERE account = $a AND type = 'opened'
                AND json_extract_string(body, '$.symbol') = $s)
        ORDER BY seq DESC LIMIT $n"""
    cur = history.cursor()
    try:
        rows = cur.execute(sql, {"a": account, "s": symbol, "n": limit}).fetchall()
    finally:
        cur.close()
    marks = (mark_of(json.loads(r[0])) for r in reversed(rows))
    return [m for m in marks if m is not None]
