"""Backpack frame parsing, subscription messages, store rows, duplicate filter and backoff."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from workbench.feeds.backpack import (
    BookTicker,
    MalformedFrame,
    OtherFrame,
    StreamError,
    Trade,
    parse_frame,
    split_stream,
    streams_for,
    subscribe_message,
    unsubscribe_message,
)
from workbench.feeds.backpack_client import Backoff
from workbench.recorder.rows import Deduper, RowRejected, fits, quote_row, trade_row
from workbench.testing.backpack_frames import (
    REAL_BOOK_TICKER,
    REAL_BOOK_TICKER_BTC,
    REAL_DEPTH,
    REAL_TICKER,
    REAL_TRADE,
)


def test_real_book_ticker_parses_to_exact_decimals() -> None:
    q = parse_frame(REAL_BOOK_TICKER)
    assert q == BookTicker(
        "SOL_USDC",
        Decimal("218.58"),
        Decimal("56.02"),
        Decimal("218.61"),
        Decimal("19.60"),
        1802083092,
        1736172777497712,
        1736172777506225,
    )
    btc = parse_frame(REAL_BOOK_TICKER_BTC)
    assert isinstance(btc, BookTicker)
    assert (btc.bid, btc.ask, btc.bid_qty) == (
        Decimal("68983.0"),
        Decimal("68983.1"),
        Decimal("0.02426"),
    )
    assert str(btc.ask_qty) == "0.06093"  # the text, not a float's neighbour


def test_update_id_as_string_like_the_docs_is_accepted() -> None:
    text = REAL_BOOK_TICKER.replace('"u":1802083092', '"u":"1802083092"')
    q = parse_frame(text)
    assert isinstance(q, BookTicker) and q.update_id == 1802083092


def test_real_trade_parses() -> None:
    tr = parse_frame(REAL_TRADE)
    assert tr == Trade(
        "SOL_USDC",
        341399899,
        Decimal("218.50"),
        Decimal("0.07"),
        True,
        "113782700596854784",
        "113782701997686784",
        1736186248744398,
        1736186248745457,
    )


def test_untyped_streams_and_error_frames() -> None:
    depth = parse_frame(REAL_DEPTH)
    assert isinstance(depth, OtherFrame) and depth.stream == "depth.200ms.SOL_USDC"
    assert depth.data["a"] == [["219.00", "2.98"]]
    assert isinstance(parse_frame(REAL_TICKER), OtherFrame)
    err = parse_frame('{"id":null,"error":{"code":4006,"message":"Invalid stream"}}')
    assert err == StreamError(4006, "Invalid stream", None)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1,2]",
        '{"data":{},"stream":"bookTicker.SOL_USDC"}',
        REAL_BOOK_TICKER.replace('"a":"218.61"', '"a":218.61'),  # price as a JSON number
        REAL_BOOK_TICKER.replace('"a":"218.61"', '"a":"abc"'),
        REAL_BOOK_TICKER.replace('"a":"218.61"', '"a":"NaN"'),
        REAL_BOOK_TICKER.replace('"u":1802083092', '"u":"12x"'),
        REAL_BOOK_TICKER.replace('"T":1736172777497712', '"T":"1736172777497712"'),
        REAL_BOOK_TICKER.replace(
            '"stream":"bookTicker.SOL_USDC"', '"stream":"bookTicker.BTC_USDC"'
        ),
        REAL_BOOK_TICKER.replace('"stream":"bookTicker.SOL_USDC"', '"stream":"foo.SOL_USDC"'),
        REAL_TRADE.replace('"m":true', '"m":"true"'),
        REAL_TRADE.replace('"e":"trade"', '"e":"bookTicker"'),
        '{"id":null,"error":{"code":"x","message":"m"}}',
    ],
)
def test_malformed_frames_raise(text: str) -> None:
    with pytest.raises(MalformedFrame):
        parse_frame(text)


def test_subscription_messages() -> None:
    streams = streams_for(["SOL_USDC", "BTC_USDC"], ["bookTicker", "trade"])
    assert streams == [
        "bookTicker.SOL_USDC",
        "trade.SOL_USDC",
        "bookTicker.BTC_USDC",
        "trade.BTC_USDC",
    ]
    assert (
        subscribe_message(streams[:2])
        == '{"method":"SUBSCRIBE","params":["bookTicker.SOL_USDC","trade.SOL_USDC"]}'
    )
    assert json.loads(unsubscribe_message(["trade.SOL_USDC"], request_id=7)) == {
        "method": "UNSUBSCRIBE",
        "params": ["trade.SOL_USDC"],
        "id": 7,
    }
    assert split_stream("kline.1m.SOL_USDC") == ("kline.1m", "SOL_USDC")
    with pytest.raises(ValueError):
        subscribe_message(["bookTicker"])
    with pytest.raises(ValueError):
        subscribe_message([])


def test_rows_keep_exact_decimals_and_refuse_what_does_not_fit() -> None:
    q = parse_frame(REAL_BOOK_TICKER)
    assert isinstance(q, BookTicker)
    assert quote_row(q, 5) == (
        "SOL_USDC",
        1736172777497712,
        1736172777506225,
        5,
        Decimal("218.58"),
        Decimal("218.61"),
        Decimal("56.02"),
        Decimal("19.60"),
        1802083092,
        "backpack",
    )
    tr = parse_frame(REAL_TRADE)
    assert isinstance(tr, Trade)
    assert trade_row(tr, 9)[1:] == (
        341399899,
        1736186248744398,
        1736186248745457,
        9,
        Decimal("218.50"),
        Decimal("0.07"),
        True,
        "backpack",
    )
    too_fine = parse_frame(REAL_BOOK_TICKER.replace('"b":"218.58"', '"b":"218.123456789"'))
    assert isinstance(too_fine, BookTicker)
    with pytest.raises(RowRejected):
        quote_row(too_fine, 5)
    assert fits(Decimal("218.580000000000"), 18, 8)  # trailing zeros are not precision
    assert not fits(Decimal("12345678901"), 18, 8)
    assert fits(Decimal("9999999999.99999999"), 18, 8)


def test_deduper_refuses_replays_and_accepts_restarted_ids() -> None:
    d = Deduper({"SOL_USDC": (100, 1_000_000)})
    assert not d.accept("SOL_USDC", 100, 1_000_000)
    assert not d.accept("SOL_USDC", 99, 999_000)
    assert d.accept("SOL_USDC", 101, 1_000_500)
    assert not d.accept("SOL_USDC", 101, 1_000_600)  # same id re-sent with a later E/T
    assert d.accept("BTC_USDC", 1, 5)  # ids are per symbol
    assert d.accept("SOL_USDC", 3, 1_000_500 + 61_000_000)  # a minute later: ids restarted
    assert d.last("SOL_USDC") == (3, 62_000_500)


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(0.1, 1.0, rng=random.Random(1))
    delays = [b.next() for _ in range(6)]
    caps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert 0.05 <= b.next() <= 0.1
