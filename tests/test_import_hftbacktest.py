"""Importing the real Binance captures (hftbacktest) into the tick store, and their readers."""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from ticks_helpers import CAPTURES

from workbench.domain import Instrument
from workbench.engine import Engine
from workbench.importers.hftbacktest import (
    SOURCE,
    BadFrame,
    capture_quotes,
    engine_quotes,
    import_captures,
    read_capture,
)
from workbench.money import BadNumber
from workbench.store.schema import connect
from workbench.ticks import Quote, Trade


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


@functools.cache
def raw_frames() -> tuple[Counter[str], Counter[str], Decimal, Decimal, dict[str, dict]]:
    """Counted the plain way: bookTicker and trade frames per symbol, price sums, first frames."""
    quotes: Counter[str] = Counter()
    trades: Counter[str] = Counter()
    bid_sum = Decimal(0)
    qty_sum = Decimal(0)
    first: dict[str, dict] = {}
    for path in CAPTURES:
        with gzip.open(path, "rt") as fh:
            for line in fh:
                recv, _, body = line.partition(" ")
                msg = json.loads(body)
                stream = msg.get("stream", "")
                if stream.endswith("@bookTicker"):
                    quotes[msg["data"]["s"]] += 1
                    bid_sum += Decimal(msg["data"]["b"])
                    first.setdefault("q" + msg["data"]["s"], {**msg["data"], "recv": recv})
                elif stream.endswith("@trade"):
                    trades[msg["data"]["s"]] += 1
                    qty_sum += Decimal(msg["data"]["q"])
                    first.setdefault("t" + msg["data"]["s"], {**msg["data"], "recv": recv})
    return quotes, trades, bid_sum, qty_sum, first


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    assert len(CAPTURES) == 4, f"expected the 4 shared captures, found {CAPTURES}"
    con = connect(tmp_path_factory.mktemp("hb") / "ticks.duckdb")
    result = import_captures(con, CAPTURES, batch_lines=50_000)  # several batches
    assert result.quotes == result.quotes_read > 0
    return con


@pytest.mark.real_data
def test_row_counts_match_the_frames_in_the_files(imported: duckdb.DuckDBPyConnection) -> None:
    quotes, trades, bid_sum, qty_sum, _ = raw_frames()
    got_q = dict(imported.execute("SELECT symbol, count(*) FROM quotes GROUP BY 1").fetchall())
    got_t = dict(imported.execute("SELECT symbol, count(*) FROM trades GROUP BY 1").fetchall())
    assert got_q == dict(quotes) and got_t == dict(trades)
    assert 70_000 < quotes["BTCUSDT"] < 76_000 and 55_000 < quotes["ETHUSDT"] < 62_000
    # Exact decimals: the stored sums equal the sums of the decimal texts.
    row = imported.execute("SELECT sum(bid) FROM quotes").fetchone()
    assert row is not None and row[0] == bid_sum
    row = imported.execute("SELECT sum(qty) FROM trades").fetchone()
    assert row is not None and row[0] == qty_sum
    sources = imported.execute(
        "SELECT DISTINCT source FROM quotes UNION SELECT DISTINCT source FROM trades"
    )
    assert sources.fetchall() == [(SOURCE,)]


@pytest.mark.real_data
def test_time_span_is_2354_to_0005_utc(imported: duckdb.DuckDBPyConnection) -> None:
    for table in ("quotes", "trades"):
        lo, hi = imported.execute(f"SELECT min(t), max(t) FROM {table}").fetchone()  # type: ignore[misc]
        assert us("2024-08-08T23:54:00") <= lo < us("2024-08-08T23:55:00")
        assert us("2024-08-09T00:05:00") <= hi < us("2024-08-09T00:06:00")


@pytest.mark.real_data
def test_fields_of_first_frames_are_exact(imported: duckdb.DuckDBPyConnection) -> None:
    *_, first = raw_frames()
    fq = first["qBTCUSDT"]
    row = imported.execute(
        "SELECT t, e, recv, bid, ask, bid_qty, ask_qty, update_id FROM quotes"
        " WHERE symbol = 'BTCUSDT' ORDER BY t, rowid LIMIT 1"
    ).fetchone()
    recv = int(fq["recv"]) // 1000
    assert row == (recv, None, recv, Decimal(fq["b"]), Decimal(fq["a"]), Decimal(fq["B"]),
                   Decimal(fq["A"]), fq["u"])  # fmt: skip
    ft = first["tETHUSDT"]
    row = imported.execute(
        "SELECT trade_id, t, e, recv, price, qty, buyer_maker FROM trades"
        " WHERE symbol = 'ETHUSDT' ORDER BY t, rowid LIMIT 1"
    ).fetchone()
    assert row == (ft["t"], ft["T"] * 1000, ft["E"] * 1000, int(ft["recv"]) // 1000,
                   Decimal(ft["p"]), Decimal(ft["q"]), ft["m"])  # fmt: skip


@pytest.mark.real_data
def test_reimport_adds_nothing(imported: duckdb.DuckDBPyConnection) -> None:
    before = imported.execute("SELECT count(*) FROM quotes").fetchone()
    again = import_captures(imported, CAPTURES[:2])
    assert again.quotes == 0 and again.trades == 0 and again.quotes_read > 0
    assert imported.execute("SELECT count(*) FROM quotes").fetchone() == before


@pytest.mark.real_data
def test_stored_order_is_file_order(imported: duckdb.DuckDBPyConnection) -> None:
    # Within a symbol, insertion order follows the files: update ids never go down.
    row = imported.execute(
        """SELECT count(*) FROM (SELECT update_id, lag(update_id) OVER
           (PARTITION BY symbol ORDER BY rowid) AS prev FROM quotes) WHERE update_id < prev"""
    ).fetchone()
    assert row == (0,)


@pytest.mark.real_data
def test_read_capture_streams_records() -> None:
    recs = list(read_capture(CAPTURES[0]))
    quotes, _, _, _, first = raw_frames()
    qs = [r for r in recs if isinstance(r, Quote)]
    ts = [r for r in recs if isinstance(r, Trade)]
    assert qs and ts and len(qs) + len(ts) == len(recs)
    fq = first["qBTCUSDT"]
    assert qs[0].bid == Decimal(fq["b"]) and qs[0].update_id == fq["u"]
    assert qs[0].t == qs[0].recv == int(fq["recv"]) // 1000
    assert all(b.t >= a.t for a, b in zip(qs, qs[1:], strict=False))


@pytest.mark.real_data
def test_engine_quotes_are_merged_in_time_order() -> None:
    eng = Engine([Instrument("ETHUSDT")])
    sids, ts, bids, asks = engine_quotes(CAPTURES, eng)
    quotes, *_ = raw_frames()
    assert len(ts) == sum(quotes.values())
    assert ts == sorted(ts)
    assert {eng.books[s].inst.symbol for s in set(sids)} == {"BTCUSDT", "ETHUSDT"}
    syms, ts2, bids2, _ = capture_quotes(CAPTURES)
    assert ts2 == ts and bids2 == bids
    assert [eng.symbol_id(s) for s in syms[:50]] == sids[:50]
    assert all(isinstance(b, int) for b in bids[:100])
    accepted = eng.feed_quotes(sids, ts, bids, asks)
    assert accepted + eng.bad_quotes + eng.ignored_quotes == len(ts)
    assert accepted > 0.99 * len(ts)


def write_gz(path: Path, lines: list[str], members: int = 1) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    cut = len(data) // members
    with open(path, "wb") as fh:
        for i in range(members):  # several gzip members in one file
            fh.write(gzip.compress(data[i * cut : None if i == members - 1 else (i + 1) * cut]))
    return path


QUOTE = ('{"stream":"abcusdt@bookTicker","data":{"u":7,"s":"ABCUSDT","b":"1.50000000",'
         '"B":"2.00000000","a":"1.60000000","A":"3.00000000"}}')  # fmt: skip
TRADE = ('{"stream":"abcusdt@trade","data":{"e":"trade","E":1000,"s":"ABCUSDT","t":9,'
         '"p":"1.55000000","q":"0.10000000","T":999,"m":false,"M":true}}')  # fmt: skip


def test_unusual_frames_take_the_slow_path(tmp_path: Path) -> None:
    lines = [
        '5000000 {"lastUpdateId":1,"bids":[["1.0","1.0"]],"asks":[]}',
        "6000000 " + QUOTE,
        '7000000 {"stream":"abcusdt@depth@100ms","data":{"e":"depthUpdate","b":[],"a":[]}}',
        # keys reordered, data first, short decimals: not the fast layout
        '8000000 {"data":{"s":"ABCUSDT","u":8,"a":"1.7","A":"1","b":"1.6","B":"1"},'
        '"stream":"abcusdt@bookTicker"}',
        "9000000 " + TRADE,
        '9500000 {"stream":"abcusdt@trade","data":{"e":"trade","E":2000,"s":"ABCUSDT","t":10,'
        '"p":"1.56","q":"0.2","T":1999,"m":true}}',
        "9900000 " + QUOTE.replace('"1.50000000"', '"1.500000000"').replace('"u":7', '"u":9'),
    ]
    path = write_gz(tmp_path / "odd.ws.gz", lines, members=3)
    con = connect(tmp_path / "t.duckdb")
    res = import_captures(con, [path])
    assert (res.quotes, res.trades) == (3, 2)
    rows = con.execute("SELECT t, bid, ask, update_id FROM quotes ORDER BY rowid").fetchall()
    assert rows == [  # file order, whichever path read them
        (6000, Decimal("1.5"), Decimal("1.6"), 7),
        (8000, Decimal("1.6"), Decimal("1.7"), 8),
        (9900, Decimal("1.5"), Decimal("1.6"), 9),
    ]
    rows = con.execute(
        "SELECT trade_id, t, e, price, buyer_maker FROM trades ORDER BY t"
    ).fetchall()
    assert rows == [(9, 999_000, 1_000_000, Decimal("1.55"), False),
                    (10, 1_999_000, 2_000_000, Decimal("1.56"), True)]  # fmt: skip
    assert [type(r).__name__ for r in read_capture(path)] == [
        "Quote",
        "Quote",
        "Trade",
        "Trade",
        "Quote",
    ]


def test_inexact_price_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    bad = QUOTE.replace('"1.50000000"', '"1.500000001"')
    path = write_gz(
        tmp_path / "bad.ws.gz", ["6000000 " + QUOTE.replace('"u":7', '"u":1'), "7000000 " + bad]
    )
    con = connect(tmp_path / "t.duckdb")
    with pytest.raises(BadNumber, match="more than 8 decimal"):
        import_captures(con, [path])
    assert con.execute("SELECT count(*) FROM quotes").fetchone() == (0,)


def test_truncated_file_is_an_error(tmp_path: Path) -> None:
    whole = write_gz(tmp_path / "whole.ws.gz", ["6000000 " + QUOTE] * 2000)
    cut = tmp_path / "cut.ws.gz"
    cut.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(BadFrame, match="truncated"):
        import_captures(connect(tmp_path / "t.duckdb"), [cut])
    binary = tmp_path / "bin.ws.gz"
    binary.write_bytes(gzip.compress(b'6000000 {"stream":"x\xff"}\n'))
    with pytest.raises(BadFrame, match="not a text capture"):
        import_captures(connect(tmp_path / "t.duckdb"), [binary])
    with pytest.raises(FileNotFoundError):
        import_captures(connect(tmp_path / "t.duckdb"), [tmp_path / "missing.ws.gz"])
