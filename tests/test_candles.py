"""Candles from quotes and trades, checked against a hand computation on a tiny data set."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest
from ticks_helpers import T0, add, q, store, tr

from workbench.candles import INTERVALS, candles, candles_frame

S = 1_000_000


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    c = store(tmp_path)
    add(c, [
        q("X", T0, "100.00", "100.02"),                 # mid 100.01   bucket 0 open
        q("X", T0 + 10 * S, "100.10", "100.11"),        # mid 100.105
        q("X", T0 + 10 * S, "99.50", "99.60"),          # mid 99.55    low (tie at 10 s)
        q("X", T0 + 60 * S - 1, "100.20", "100.30"),    # mid 100.25   high, close
        q("X", T0 + 60 * S, "101.00", "101.01"),        # mid 101.005  bucket 1 open (tie)
        q("X", T0 + 60 * S, "100.90", "100.95"),        # mid 100.925
        q("X", T0 + 90 * S, "100.50", "100.52"),        # mid 100.51   low
        q("X", T0 + 90 * S, "100.70", "100.74"),        # mid 100.72   close (last of a tie)
        q("Y", T0, "5", "6"),
        q("Y", T0 + 60 * S - 1, "5.5", "6"),
    ], [
        tr("X", 1, T0 + 5 * S, "100.01", "0.5"),
        tr("X", 2, T0 + 59 * S, "100.2", "0.25"),
        tr("X", 3, T0 + 61 * S, "101", "1.125"),
        tr("X", 4, T0 + 200 * S, "100", "9"),            # no quote in its minute
    ])  # fmt: skip
    return c


def ohlcv(c) -> tuple:  # type: ignore[no-untyped-def]
    return (c.start - T0, c.open, c.high, c.low, c.close, c.volume, c.trades, c.quotes, c.partial)


def test_one_minute_mid_candles(con: duckdb.DuckDBPyConnection) -> None:
    got = [ohlcv(c) for c in candles(con, "X", "1m")]
    assert got == [
        (0, D("100.01"), D("100.25"), D("99.55"), D("100.25"), D("0.75"), 2, 4, False),
        (60 * S, D("101.005"), D("101.005"), D("100.51"), D("100.72"), D("1.125"), 1, 4, True),
    ]
    first = candles(con, "X", "1m")[0]
    assert first.end - first.start == 60 * S and first.symbol == "X" and first.interval == "1m"


def test_bid_and_ask_candles(con: duckdb.DuckDBPyConnection) -> None:
    bid = [ohlcv(c)[1:5] for c in candles(con, "X", "1m", price="bid")]
    ask = [ohlcv(c)[1:5] for c in candles(con, "X", "1m", price="ask")]
    assert bid == [(D("100"), D("100.2"), D("99.5"), D("100.2")),
                   (D("101"), D("101"), D("100.5"), D("100.7"))]  # fmt: skip
    assert ask == [(D("100.02"), D("100.3"), D("99.6"), D("100.3")),
                   (D("101.01"), D("101.01"), D("100.52"), D("100.74"))]  # fmt: skip


def test_partial_flag_follows_the_end_of_the_data(con: duckdb.DuckDBPyConnection) -> None:
    # Y's data reaches the last µs of its only minute: complete.
    assert [c.partial for c in candles(con, "Y", "1m")] == [False]
    assert [c.partial for c in candles(con, "Y", "5m")] == [True]
    # Cut by the requested end: complete when the end is the bucket's end, partial before.
    assert [c.partial for c in candles(con, "X", "1m", end=T0 + 60 * S)] == [False]
    cut = candles(con, "X", "1m", end=T0 + 30 * S)
    assert [(c.partial, c.quotes, c.close, c.trades) for c in cut] == [(True, 3, D("99.55"), 1)]


def test_start_bound_and_longer_intervals(con: duckdb.DuckDBPyConnection) -> None:
    late = [ohlcv(c) for c in candles(con, "X", "1m", start=T0 + 60 * S)]
    assert late == [(60 * S, D("101.005"), D("101.005"), D("100.51"), D("100.72"), D("1.125"),
                     1, 4, True)]  # fmt: skip
    for interval in ("5m", "15m", "30m", "1h", "4h", "1d"):
        (c,) = candles(con, "X", interval)
        assert c.start == T0 and c.end == T0 + INTERVALS[interval]  # T0 is a UTC midnight
        assert (c.open, c.high, c.low, c.close) == (
            D("100.01"),
            D("101.005"),
            D("99.55"),
            D("100.72"),
        )
        assert (c.volume, c.trades, c.quotes, c.partial) == (D("10.875"), 4, 8, True)
    secs = candles(con, "X", "1s")
    assert [c.start - T0 for c in secs] == [0, 10 * S, 59 * S, 60 * S, 90 * S]
    assert [c.volume for c in secs] == [D(0), D(0), D("0.25"), D(0), D(0)]


def test_frame_and_bad_arguments(con: duckdb.DuckDBPyConnection) -> None:
    frame = candles_frame(con, "X", "1m")
    assert frame["close"].to_list() == [D("100.25"), D("100.72")]
    assert str(frame["time"][0]) == "2024-08-09 00:00:00+00:00"
    assert candles(con, "NOPE", "1m") == []
    with pytest.raises(ValueError, match="interval must be one of"):
        candles(con, "X", "2m")
    with pytest.raises(ValueError, match="price must be one of"):
        candles(con, "X", "1m", price="last")
