"""A chart's past and overlays without a browser: candles from a real tick store (DuckDB)
merged with the live ones, an account's marks from a real history database, the moving
average and Bollinger bands (whole and as the candles stream), and the marks a chart
keeps (none twice)."""

from __future__ import annotations

import math
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from server_helpers import free_port

from server.dashboard.chart import BOLL, KEEP_CANDLES, MA, PriceChart
from server.dashboard.chart_backfill import backfill, rest_url
from server.dashboard.chart_history import (
    account_marks,
    mark_of,
    merge_past,
    stored_candles,
)
from server.dashboard.overlays import bands, tail_bands
from workbench.live.history import History
from workbench.store.schema import connect
from workbench.testing.fake_backpack_rest import FakeBackpackRest, rest_kline

T0 = 1_750_000_020_000_000  # µs, on a whole minute


def _quotes(con: duckdb.DuckDBPyConnection, symbol: str, rows: list[tuple[int, str, str]],
            source: str = "backpack") -> None:  # fmt: skip
    con.executemany(
        "INSERT INTO quotes (symbol, t, recv, bid, ask, source) VALUES (?, ?, ?, ?, ?, ?)",
        [(symbol, t, t, Decimal(b), Decimal(a), source) for t, b, a in rows],
    )


def _kline(con: duckdb.DuckDBPyConnection, symbol: str, start: int, o: str, h: str, lo: str,
           c: str) -> None:  # fmt: skip
    con.execute(
        "INSERT INTO klines VALUES (?, '1m', ?, ?, ?, ?, ?, ?, 1, 3, 'backfill')",
        [symbol, start, start + 60_000_000, Decimal(o), Decimal(h), Decimal(lo), Decimal(c)],
    )


def test_stored_candles_are_the_quotes_before_the_end_and_klines_where_none(
    tmp_path: Path,
) -> None:
    con = connect(tmp_path / "ticks.duckdb")
    # 3 minutes of quotes (mid 100, 101, 102 ... per second), one minute after the end
    rows = [(T0 + s * 1_000_000, str(100 + s % 7), str(101 + s % 7)) for s in range(240)]
    _quotes(con, "BTC_USDC", rows)
    _quotes(con, "ETH_USDC", [(T0, "5", "6")])
    # klines of the two minutes before the quotes, and one where quotes are (not used)
    _kline(con, "BTC_USDC", T0 - 120_000_000, "90", "95", "89", "94")
    _kline(con, "BTC_USDC", T0 - 60_000_000, "94", "99", "93", "98")
    _kline(con, "BTC_USDC", T0, "1", "1", "1", "1")
    end = T0 + 180_000_000
    per_s, sim = stored_candles(con, "BTC_USDC", 1, end, 600)
    assert not sim
    assert len(per_s["t"]) == 180 and per_s["t"][0] == T0 // 1000
    assert per_s["t"][-1] == (end - 1_000_000) // 1000  # nothing at or after the end
    assert per_s["close"][:3] == [100.5, 101.5, 102.5]
    # the bound: the candles of the `limit` frames before the end, none older
    last10, _ = stored_candles(con, "BTC_USDC", 1, end, 10)
    assert last10["t"] == per_s["t"][-10:] and last10["close"] == per_s["close"][-10:]
    assert stored_candles(con, "BTC_USDC", 1, end + 3_600_000_000, 600)[0]["t"] == []
    per_m, _ = stored_candles(con, "BTC_USDC", 60, end, 600)
    assert per_m["t"] == [(T0 - 120_000_000) // 1000, (T0 - 60_000_000) // 1000,
                          T0 // 1000, (T0 + 60_000_000) // 1000,
                          (T0 + 120_000_000) // 1000]  # fmt: skip
    assert (per_m["open"][0], per_m["high"][0], per_m["low"][0]) == (90.0, 95.0, 89.0)
    assert per_m["open"][2] == 100.5 and per_m["high"][2] == 106.5  # the quotes', not the kline's
    # simulated rows make the past simulated
    _quotes(con, "SIM_X", [(T0, "1", "2")], source="synthetic")
    got, sim = stored_candles(con, "SIM_X", 60, end, 600)
    assert sim and got["close"] == [1.5]
    assert stored_candles(con, "NONE", 1, end, 600) == (
        {"t": [], "open": [], "high": [], "low": [], "close": []}, False)  # fmt: skip
    con.close()


def test_the_past_joins_the_live_candles_at_the_first_one() -> None:
    past = {"t": [1000, 2000, 3000], "open": [1.0, 2, 3], "high": [1.5, 2.5, 9],
            "low": [0.5, 1.5, 2], "close": [1.2, 2.2, 3.3]}  # fmt: skip
    live = {"t": [3000, 4000], "open": [3.1, 4], "high": [4.0, 4.5], "low": [1.0, 3.9],
            "close": [3.9, 4.2]}  # fmt: skip
    m = merge_past(past, live, 600)
    assert m["t"] == [1000, 2000, 3000, 4000]
    # candle 3000: the producer began it part-way: the stored open, the extremes of both
    assert (m["open"][2], m["high"][2], m["low"][2], m["close"][2]) == (3, 9, 1.0, 3.9)
    assert merge_past(past, live, 2)["t"] == [3000, 4000]
    empty = {"t": [], "open": [], "high": [], "low": [], "close": []}
    assert merge_past(past, empty, 600) == past
    assert merge_past(empty, live, 600) == live
    newer = {k: [v[-1]] for k, v in past.items()}
    assert merge_past(newer, {k: v[:1] for k, v in past.items()}, 600)["t"] == [1000]


def test_an_accounts_marks_come_from_its_stored_events(tmp_path: Path) -> None:
    hist = History(duckdb.connect(str(tmp_path / "accounts.duckdb")))
    seq = iter(range(1, 100))

    def ev(t: int, kind: str, account: str, ref: str, **kw: Any) -> dict[str, Any]:
        return {"seq": next(seq), "t": t, "type": kind, "account": account, "ref": ref, **kw}

    events = [
        ev(1_000_000, "opened", "ann", "a1", symbol="BTC_USDC", side="long", qty="0.1",
           price="60000"),
        ev(2_000_000, "opened", "ann", "a2", symbol="ETH_USDC", side="short", qty="1",
           price="3000"),
        ev(3_000_000, "opened", "bob", "b1", symbol="BTC_USDC", side="long", qty="1",
           price="60001"),
        ev(4_000_000, "reduced", "ann", "a1", qty="0.05", price="60100", pnl="5.00",
           remaining_qty="0.05"),
        ev(5_000_000, "closed", "ann", "a1", reason="liquidation", price="59000", pnl="-50.00"),
        ev(6_000_000, "opened", "ann", "a3", symbol="BTC_USDC", side="short", qty="0.2",
           price="59500"),
        ev(7_000_000, "closed", "ann", "a3", reason="take_profit", price="59400", pnl="20.00"),
    ]  # fmt: skip
    hist.record(events)
    marks = account_marks(hist, "ann", "BTC_USDC")
    assert marks == [
        (1000.0, 60000.0, "long", "long 0.1 at 60000"),
        (4000.0, 60100.0, "exit", "closed 0.05 at 60100: pnl 5.00, 0.05 left"),
        (5000.0, 59000.0, "liquidation", "liquidation at 59000: pnl -50.00"),
        (6000.0, 59500.0, "short", "short 0.2 at 59500"),
        (7000.0, 59400.0, "exit", "take_profit at 59400: pnl 20.00"),
    ]
    assert account_marks(hist, "ann", "BTC_USDC", limit=2) == marks[-2:]
    assert [m[2] for m in account_marks(hist, "ann", "ETH_USDC")] == ["short"]
    assert account_marks(hist, "carl", "BTC_USDC") == []
    assert mark_of({"type": "margin_call", "t": 1}) is None


def test_moving_average_and_bollinger_bands() -> None:
    closes = [100 + math.sin(i / 3) * 5 + i * 0.1 for i in range(60)]
    ma, up, lo = bands(closes)
    assert all(math.isnan(v) for v in ma[:19] + up[:19] + lo[:19])
    for i in (19, 33, 59):
        window = closes[i - 19 : i + 1]
        mean, sd = statistics.fmean(window), statistics.pstdev(window)
        assert ma[i] == pytest.approx(mean) and up[i] == pytest.approx(mean + 2 * sd)
        assert lo[i] == pytest.approx(mean - 2 * sd)
    for n in (1, 5, 41, 60):
        tail = tail_bands(closes, n)
        assert all(a == pytest.approx(b, nan_ok=True)
                   for got, whole in zip(tail, (ma, up, lo), strict=True)
                   for a, b in zip(got, whole[-n:], strict=True))  # fmt: skip
    few = bands(closes[:5])
    assert [len(c) for c in few] == [5, 5, 5] and all(math.isnan(v) for c in few for v in c)


def _candles(ts: list[int], closes: list[float]) -> dict[str, list[Any]]:
    return {"t": ts, "open": closes, "high": closes, "low": closes, "close": closes}


def test_the_charts_overlays_follow_the_candles_as_they_stream() -> None:
    chart = PriceChart()
    closes = [100 + (i * 7) % 13 for i in range(KEEP_CANDLES)]
    chart.reset(_candles([i * 1000 for i in range(KEEP_CANDLES)], closes), 1)
    assert chart.overlays.data["t"] == [] and not chart.ma.visible  # off: nothing computed
    chart.toggles.value = [MA, BOLL]
    assert chart.ma.visible and all(r.visible for r in chart.boll)
    t = KEEP_CANDLES * 1000
    for step in range(30):  # the open candle patched, new ones streamed past the rollover
        c = 100 + step % 5
        chart.candle(_candles([t - 1000, t], [closes[-1] + 0.5, c]))
        closes = [*closes[:-1], closes[-1] + 0.5, c][-KEEP_CANDLES:]
        t += 1000
    d, o = chart.candles.data, chart.overlays.data
    assert list(o["t"]) == list(d["t"]) and len(d["t"]) == KEEP_CANDLES
    assert list(d["close"]) == closes
    ma, up, lo = bands(closes)
    for got, want in ((o["ma"], ma), (o["upper"], up), (o["lower"], lo)):
        assert [round(v, 9) for v in got[19:]] == [round(v, 9) for v in want[19:]]
    chart.toggles.value = []
    assert chart.overlays.data["t"] == [] and not chart.ma.visible


def test_the_past_goes_before_the_live_candles_on_the_chart() -> None:
    chart = PriceChart()
    chart.reset(_candles([5000, 6000], [5.0, 6.0]), 1)
    chart.prepend(_candles([3000, 4000, 5000], [3.0, 4.0, 4.5]))
    assert list(chart.candles.data["t"]) == [3000, 4000, 5000, 6000]
    assert list(chart.candles.data["close"]) == [3.0, 4.0, 5.0, 6.0]
    assert len(chart.candles.data["color"]) == 4


def test_marks_from_the_history_and_a_push_are_shown_once() -> None:
    chart = PriceChart(keep_marks=3)
    chart.mark(2000.0, 10.0, "long", "long 1 at 10")
    chart.add_marks([(1000.0, 9.0, "short", "s"), (2000.0, 10.0, "long", "long 1 at 10")])
    assert list(chart.marks.data["t"]) == [1000.0, 2000.0]
    chart.mark(2000.0, 10.0, "long", "long 1 at 10")  # the push of a mark the history had
    chart.mark(3000.0, 11.0, "exit", "e")
    chart.mark(4000.0, 12.0, "liquidation", "x")
    assert list(chart.marks.data["t"]) == [2000.0, 3000.0, 4000.0]  # the newest 3
    assert list(chart.marks.data["marker"]) == ["triangle", "circle", "x"]
    chart.clear_marks()
    assert list(chart.marks.data["t"]) == []


def test_the_simulated_label() -> None:
    chart = PriceChart()
    assert not chart.simulated_label.visible
    chart.simulated(True)
    assert chart.simulated_label.visible and "SIMULATED" in chart.simulated_label.text


def test_klines_are_backfilled_only_from_a_known_rest_api() -> None:
    assert rest_url("backpack", "wss://ws.backpack.exchange", {}) == (
        "https://api.backpack.exchange")  # fmt: skip
    assert rest_url("backpack", "ws://127.0.0.1:5000", {}) is None  # a fake: no guess
    env = {"WORKBENCH_BACKPACK_REST_URL": "http://127.0.0.1:9"}
    assert rest_url("backpack", "ws://127.0.0.1:5000", env) == "http://127.0.0.1:9"
    assert rest_url("synthetic", "wss://ws.backpack.exchange", env) is None


def test_the_backfill_stores_recent_klines_and_a_failure_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time()) // 60 * 60
    con = connect(tmp_path / "ticks.duckdb")
    with FakeBackpackRest() as rest:
        rest.add_klines("BTC_USDC", "1m", [
            rest_kline(now - 60 * (30 - i), "1m", "100", "101", "99", "100.5", "2", trades=1)
            for i in range(30)
        ] + [rest_kline(now - 26 * 3600, "1m", "1", "1", "1", "1", "1", trades=1)])  # fmt: skip
        added = backfill(con, rest.url, ["BTC_USDC", "NOPE_USDC"])
        assert added == {"BTC_USDC": 30}  # not the one of 26 h ago; the unknown symbol left out
        assert backfill(con, rest.url, ["BTC_USDC"]) == {"BTC_USDC": 0}  # stored already
    assert "NOPE_USDC" in caplog.text
    n = con.execute("SELECT count(*) FROM klines WHERE source = 'backfill'").fetchone()
    assert n == (30,)
    # nobody answers: logged, never raised, and soon over
    t0 = time.monotonic()
    assert backfill(con, f"http://127.0.0.1:{free_port()}", ["BTC_USDC"]) == {}
    assert time.monotonic() - t0 < 15
    con.close()
