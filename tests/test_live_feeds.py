"""The live server's quote feeds: Backpack (the fake, over real WebSockets) with a simulated
fallback, the synthetic feed, and replays from a DuckDB tick store."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ticks_helpers import T0, add, q, store

from workbench.domain import Instrument
from workbench.feeds.backpack import streams_for
from workbench.feeds.backpack_client import now_us
from workbench.live.feeds import FeedSupervisor, parse_feed_spec
from workbench.live.sink import QuoteTuple
from workbench.live.synthetic_live import LiveSynthetic
from workbench.money import price_units
from workbench.replay import Replay
from workbench.testing.backpack_frames import Frame, book_ticker_frame
from workbench.testing.fake_backpack import FakeBackpack
from workbench.testing.waiting import eventually

SYMBOLS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")
STREAMS = streams_for(SYMBOLS, ["bookTicker", "trade"])
FAST = dict(flush_interval=0.1, close_timeout=0.3, backoff_initial=0.02, backoff_max=0.1)
S = 1_000_000


class RecordingSink:
    """A test double of the QuoteSink interface: keeps what it is given, in order.

    `drain_every`: when set, queued quotes count in `backlog()` until a drain thread takes
    up to `drain_batch` of them every `drain_every` seconds (a slow engine)."""

    def __init__(self, drain_every: float | None = None, drain_batch: int = 50) -> None:
        self.quotes: list[QuoteTuple] = []
        self.declared: list[Instrument] = []
        self.pending = 0
        self.max_pending = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if drain_every is not None:
            threading.Thread(
                target=self._drain, args=(drain_every, drain_batch), daemon=True
            ).start()

    def put_quotes(self, quotes: Sequence[QuoteTuple]) -> None:
        with self._lock:
            self.quotes.extend(quotes)
            self.pending += len(quotes)
            self.max_pending = max(self.max_pending, self.pending)

    def backlog(self) -> int:
        return self.pending

    def declare_instruments(self, instruments: Sequence[Instrument]) -> None:
        self.declared.extend(instruments)

    def _drain(self, every: float, batch: int) -> None:
        while not self._stop.wait(every):
            with self._lock:
                self.pending = max(0, self.pending - batch)

    def close(self) -> None:
        self._stop.set()


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def ticker(symbol: str, bid: str, ask: str, uid: int, t: int) -> Frame:
    return book_ticker_frame(
        symbol, bid=bid, ask=ask, bid_qty="1.5", ask_qty="2", update_id=uid, t=t
    )


def as_quote(frame: Frame) -> QuoteTuple:
    d = frame.data
    return (d["s"], d["T"], price_units(d["b"]), price_units(d["a"]))


def backpack(tmp_path: Path, url: str, lines: list[str], sink: RecordingSink, **kw: Any) -> Any:
    kw.setdefault("fallback_after", 0.5)
    return FeedSupervisor(
        "backpack", sink, db_path=tmp_path / "ticks.duckdb", url=url, say=lines.append,
        seed=7, recorder_options=FAST, **kw,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the --feed flag
def test_parse_feed_spec() -> None:
    assert parse_feed_spec(" Backpack ").kind == "backpack"
    assert str(parse_feed_spec("synthetic")) == "synthetic"
    spec = parse_feed_spec("replay:BTCUSDT,ETHUSDT@2024-08-08T23:55:00..1723161900000000")
    assert (spec.kind, spec.symbols) == ("replay", ("BTCUSDT", "ETHUSDT"))
    assert (spec.start_us, spec.end_us) == (1_723_161_300_000_000, 1_723_161_900_000_000)
    assert str(spec) == "replay:BTCUSDT,ETHUSDT@2024-08-08T23:55:00..1723161900000000"
    open_ended = parse_feed_spec("replay:BTCUSDT@..2024-08-09T00:00:00Z")
    assert (open_ended.start_us, open_ended.end_us) == (None, T0)
    assert parse_feed_spec("replay:SOL_USDC").start_us is None
    bad = {
        "binance": "unknown feed 'binance'",
        "synthetic:x": "takes no arguments",
        "replay": "replay needs the symbols",
        "replay:@..": "replay needs the symbols",
        "replay:A,,B": "empty symbol",
        "replay:A,A": "given twice",
        "replay:A@yesterday..": "bad FROM time 'yesterday'",
        "replay:A@..2024-13-01": "bad TO time",
        "replay:A@2024-08-09": "write FROM..TO",
        "replay:A@2024-08-09..2024-08-08": "TO must be after FROM",
    }
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message):
            parse_feed_spec(text)
    with pytest.raises(ValueError, match="unknown feed"):
        FeedSupervisor("nope", RecordingSink())


# ------------------------------------------------------------------ live Backpack
def test_live_quotes_reach_the_sink_at_T_and_are_recorded(tmp_path: Path) -> None:
    t = now_us()
    frames = [
        ticker("BTC_USDC", "68983.0", "68983.1", 100, t),
        ticker("ETH_USDC", "2600.55", "2600.56", 200, t + 5),
        ticker("SOL_USDC", "218.58", "218.61", 300, t + 9),
        ticker("BTC_USDC", "68984.5", "68984.6", 101, t + 20),
    ]
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        async with FakeBackpack() as fake:
            sup = backpack(tmp_path, fake.url, lines, sink, fallback_after=5.0)
            task = asyncio.create_task(sup.run())
            await fake.wait_subscribed(STREAMS)
            await fake.send_raw("not json at all", "bookTicker.BTC_USDC")  # never fatal
            for f in frames:
                await fake.publish(f)
            await fake.publish(frames[0])  # a duplicate: not fed twice
            await eventually(lambda: len(sink.quotes) == len(frames), timeout=5)
            st = sup.status()
            assert (st["state"], st["source"], st["connected"], st["quotes"]) == (
                "LIVE", "backpack", True, 4,
            )  # fmt: skip
            assert st["last_quote_age_s"] is not None and sup.clock_us() >= t + 20
            assert not task.done()
            await sup.stop()
            await task
            assert sup.status()["state"] == "STOPPED"

    run(scenario())
    assert sink.quotes == [as_quote(f) for f in frames]
    assert sink.quotes[1] == ("ETH_USDC", t + 5, 260_055_000_000, 260_056_000_000)
    assert sink.declared == []  # all three are engine defaults
    assert lines[0].startswith("Feed: connecting to Backpack at ws://127.0.0.1:")
    assert lines[1:] == ["Feed: LIVE prices from Backpack for BTC_USDC, ETH_USDC, SOL_USDC",
                         "Feed stopped"]  # fmt: skip
    con = duckdb.connect(str(tmp_path / "ticks.duckdb"), read_only=True)
    stored = con.execute("SELECT symbol, t, bid, ask FROM quotes ORDER BY t").fetchall()
    con.close()
    assert stored == [(d["s"], d["T"], Decimal(d["b"]), Decimal(d["a"])) for d in
                      (f.data for f in frames)]  # fmt: skip


def test_refused_connections_fall_back_to_simulated_until_backpack_returns(
    tmp_path: Path,
) -> None:
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        async with FakeBackpack() as fake:
            fake.refuse(6)
            sup = backpack(tmp_path, fake.url, lines, sink, fallback_after=5.0)
            task = asyncio.create_task(sup.run())
            await eventually(lambda: sup.status()["state"] == "SIMULATED", timeout=2)
            await eventually(lambda: len(sink.quotes) >= 6, timeout=3, what="simulated quotes")
            assert {s for s, *_ in sink.quotes} == set(SYMBOLS)
            assert all(bid < ask and abs(t - now_us()) < 5 * S for _, t, bid, ask in sink.quotes)
            await fake.wait_subscribed(STREAMS)  # the refusals are used up: connected
            await eventually(lambda: "connected to Backpack" in sup.status()["message"])
            assert sup.status()["state"] == "SIMULATED"  # until the first real quote
            live = [ticker("BTC_USDC", "12345.6", "12345.7", 1, now_us())]
            await fake.publish(live[0])
            await eventually(lambda: sup.status()["state"] == "LIVE", timeout=10)
            await asyncio.sleep(0.3)  # time for a simulated quote to slip through, if it could
            live.append(ticker("ETH_USDC", "3000.01", "3000.02", 1, now_us()))
            await fake.publish(live[1])
            await eventually(lambda: sink.quotes[-1] == as_quote(live[1]), timeout=10)
            first = sink.quotes.index(as_quote(live[0]))
            assert first >= 6 and sink.quotes[first:] == [as_quote(f) for f in live]
            await sup.stop()
            await task

    run(scenario())
    assert lines[1] == (
        "Backpack unreachable (connect failed: HTTP 503): serving SIMULATED prices until it returns"
    )
    assert lines[2:] == ["Backpack is back: serving LIVE prices again", "Feed stopped"]


def test_a_stopped_backpack_falls_back_with_continuous_prices_and_comes_back(
    tmp_path: Path,
) -> None:
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        fake = await FakeBackpack().start()
        port = fake.port
        sup = backpack(tmp_path, fake.url, lines, sink)
        task = asyncio.create_task(sup.run())
        await fake.wait_subscribed(STREAMS)
        last = ticker("BTC_USDC", "68983.0", "68983.1", 10, now_us())
        await fake.publish(last)
        await eventually(lambda: sink.quotes == [as_quote(last)], timeout=10)
        await fake.stop()
        await eventually(lambda: sup.status()["state"] == "SIMULATED", timeout=10)
        await eventually(lambda: any(s == "BTC_USDC" for s, *_ in sink.quotes[1:]), timeout=10)
        btc = next(b for s, _, b, _ in sink.quotes[1:] if s == "BTC_USDC")
        assert abs(btc - price_units("68983.0")) <= price_units("0.5")  # goes on from there
        assert sup.status()["connected"] is False
        back = await FakeBackpack(port=port).start()
        try:
            await back.wait_subscribed(STREAMS)
            again = ticker("SOL_USDC", "218.58", "218.61", 20, now_us())
            await back.publish(again)
            await eventually(lambda: sink.quotes[-1] == as_quote(again), timeout=10)
            assert sup.status()["state"] == "LIVE"
            await sup.stop()
            await task
        finally:
            await back.stop()

    run(scenario())
    assert lines[2].startswith("Backpack unreachable (")
    assert lines[2].endswith("): serving SIMULATED prices until it returns")
    assert lines[3:] == ["Backpack is back: serving LIVE prices again", "Feed stopped"]


def test_an_unreachable_url_falls_back_at_once(tmp_path: Path) -> None:
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        url = f"ws://127.0.0.1:{closed_port()}"
        sup = backpack(tmp_path, url, lines, sink, fallback_after=5.0)
        started = time.monotonic()
        task = asyncio.create_task(sup.run())
        await eventually(lambda: sink.quotes, timeout=2, what="simulated quotes")
        assert time.monotonic() - started < 2  # not after fallback_after (5 s)
        st = sup.status()
        assert (st["state"], st["source"], st["connected"]) == ("SIMULATED", "synthetic", False)
        assert "connect failed" in st["message"]
        await sup.stop()
        await task

    run(scenario())
    assert "Backpack unreachable (connect failed: ConnectionRefusedError" in lines[1]


def test_a_silent_connection_falls_back_after_fallback_after(tmp_path: Path) -> None:
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        async with FakeBackpack() as fake:
            sup = backpack(tmp_path, fake.url, lines, sink, fallback_after=0.5)
            started = time.monotonic()
            task = asyncio.create_task(sup.run())
            await fake.wait_subscribed(STREAMS)
            await eventually(lambda: sup.status()["state"] == "SIMULATED", timeout=10)
            assert time.monotonic() - started >= 0.5
            assert sup.status()["connected"] is True
            await sup.stop()
            await task

    run(scenario())
    assert lines[1] == (
        "Backpack unreachable (no quote within 0.5s of the start): "
        "serving SIMULATED prices until it returns"
    )


# ------------------------------------------------------------------ synthetic
def test_synthetic_feed_serves_simulated_prices_at_wall_clock_times() -> None:
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        sup = FeedSupervisor("synthetic", sink, say=lines.append, seed=1,
                             symbols=("BTC_USDC", "DOGE_USDC"))  # fmt: skip
        before = now_us()
        task = asyncio.create_task(sup.run())
        await eventually(lambda: len(sink.quotes) >= 8, timeout=10)
        st = sup.status()
        assert (st["state"], st["source"]) == ("SIMULATED", "synthetic")
        assert "seed" not in st  # public: the seed would tell every price to come
        assert sup.clock_us() >= max(t for _, t, _, _ in sink.quotes)
        await sup.stop()
        await task
        assert all(before <= t <= now_us() for _, t, _, _ in sink.quotes)

    run(scenario())
    assert [i.symbol for i in sink.declared] == ["DOGE_USDC"]
    (s1, t1, b1, a1), (s2, t2, b2, a2) = sink.quotes[:2]  # both open at the default price
    assert (s1, s2, t1) == ("BTC_USDC", "DOGE_USDC", t2)
    assert abs(b1 - price_units("60000")) <= price_units("0.1") and a1 - b1 >= price_units("0.1")
    assert abs(b2 - price_units("60000")) <= price_units("0.01") and a2 > b2
    times = [t for _, t, _, _ in sink.quotes]
    assert times == sorted(times)
    assert lines == ["Feed: SIMULATED prices for BTC_USDC, DOGE_USDC (synthetic, no network)",
                     "Feed stopped"]  # fmt: skip


def test_synthetic_chunks_are_seeded_and_continue_from_the_given_prices() -> None:
    bids = {"BTC_USDC": price_units("68983.0"), "ETH_USDC": price_units("2600.55")}

    def chunks(seed: int) -> tuple[list[QuoteTuple], list[QuoteTuple]]:
        gen = LiveSynthetic(["BTC_USDC", "ETH_USDC"], seed=seed, chunk_seconds=10)
        first = gen.chunk(bids, T0, first=True)
        ends = {s: b for s, _, b, _ in first}
        return first, gen.chunk(ends, first[-1][1], first=False)

    a1, a2 = chunks(5)
    assert (a1, a2) == chunks(5) and a1 != chunks(6)[0]
    assert a1[:2] == [("BTC_USDC", T0, bids["BTC_USDC"], price_units("68983.1")),
                      ("ETH_USDC", T0, bids["ETH_USDC"], price_units("2600.56"))]  # fmt: skip
    assert 8 * S <= a1[-1][1] - T0 <= 20 * S  # about chunk_seconds
    assert a2[0][1] > a1[-1][1]  # goes on after the first chunk, without repeating its end
    assert all(b < a for _, _, b, a in a1 + a2)


# ------------------------------------------------------------------ replay
def replay_store(tmp_path: Path) -> tuple[Path, list[QuoteTuple]]:
    con = store(tmp_path)
    quotes = [
        q("BTCUSDT", T0 + 0 * S // 10, "61837.63", "61837.64", 1),
        q("ETHUSDT", T0 + 1 * S // 10, "2600.5", "2600.6", 1),
        q("BTC_USDC", T0 + 2 * S // 10, "68983.0", "68983.1", 1),
        q("BTCUSDT", T0 + 3 * S // 10, "61837.10", "61837.20", 2),
        q("ETHUSDT", T0 + 4 * S // 10, "2601", "2601.1", 2),
        q("BTCUSDT", T0 + 5 * S // 10, "61838", "61838.01", 3),
        q("BTCUSDT", T0 + 60 * S, "1", "2", 4),  # outside the replayed range
    ]
    add(con, quotes)
    con.close()
    expected = [(x.symbol, x.t, price_units(x.bid), price_units(x.ask)) for x in quotes[:-1]]
    return tmp_path / "ticks.duckdb", expected


def test_replay_feeds_the_stored_quotes_in_order_following_their_time(tmp_path: Path) -> None:
    db, expected = replay_store(tmp_path)
    sink, lines = RecordingSink(), []
    spec = f"replay:BTCUSDT,ETHUSDT,BTC_USDC@{T0}..2024-08-09T00:00:30"
    seen: list[int] = []

    async def scenario() -> None:
        sup = FeedSupervisor(spec, sink, db_path=db, say=lines.append, speed=1.0)
        assert sup.clock_us() == T0  # before anything is fed: the first stored time
        task = asyncio.create_task(sup.run())
        while sup.status()["message"] != "replay finished":
            seen.append(sup.clock_us())
            await asyncio.sleep(0.01)
        st = sup.status()
        assert (st["state"], st["fed"], st["total"], st["quotes"]) == ("REPLAY", 6, 6, 6)
        assert st["replay_time"] == "2024-08-09T00:00:00.500Z" and st["finished"] is True
        assert sup.clock_us() == T0 + 5 * S // 10
        await sup.stop()
        await task

    run(scenario())
    assert sink.quotes == expected
    assert sink.declared == [Instrument("BTCUSDT", tick_size=Decimal("0.01")),
                             Instrument("ETHUSDT", tick_size=Decimal("0.1"))]  # fmt: skip
    # Paced at 1x over 0.5 s: the clock was seen moving through the replayed times.
    assert seen == sorted(seen) and len(set(seen) - {T0}) >= 3
    assert set(seen) <= {t for _, t, _, _ in expected}
    assert lines == [
        "Feed: REPLAY of 6 stored quotes of BTCUSDT, ETHUSDT, BTC_USDC from "
        "2024-08-09T00:00:00.000Z to 2024-08-09T00:00:30.000Z at 1x",
        "Replay finished: 6 quotes fed, up to 2024-08-09T00:00:00.500Z",
        "Feed stopped",
    ]


def test_a_fast_replay_waits_for_the_engine_backlog(tmp_path: Path) -> None:
    con = store(tmp_path)
    quotes = [q("SOL_USDC", T0 + i, f"150.{i % 100:02d}", "151", i) for i in range(3000)]
    add(con, quotes)
    con.close()
    sink = RecordingSink(drain_every=0.001, drain_batch=100)

    async def scenario() -> None:
        sup = FeedSupervisor("replay:SOL_USDC", sink, db_path=tmp_path / "ticks.duckdb",
                             say=lambda _: None, speed=0, max_backlog=300)  # fmt: skip
        task = asyncio.create_task(sup.run())
        await eventually(lambda: sup.status()["finished"], timeout=10)
        await sup.stop()
        await task

    run(scenario())
    sink.close()
    assert [t - T0 for _, t, _, _ in sink.quotes] == list(range(3000))
    assert 200 < sink.max_pending <= 300  # it did wait, and the queue stayed bounded
    assert sink.declared == []


def test_a_replay_without_stored_quotes_is_refused_up_front(tmp_path: Path) -> None:
    sink = RecordingSink()
    with pytest.raises(ValueError, match="no tick store at"):
        FeedSupervisor("replay:BTCUSDT", sink, db_path=tmp_path / "none.duckdb")
    db, _ = replay_store(tmp_path)
    with pytest.raises(ValueError, match=r"no stored quotes of XRPUSDT from the start to the end"):
        FeedSupervisor("replay:XRPUSDT", sink, db_path=db)
    with pytest.raises(ValueError, match=r"stored: BTCUSDT 2024-08-09T00:00:00.000Z\.\."):
        FeedSupervisor("replay:BTCUSDT@2024-08-10T00:00:00..", sink, db_path=db)
    with pytest.raises(ValueError, match="speed must be >= 0"):
        FeedSupervisor("replay:BTCUSDT", sink, db_path=db, speed=-1)
    assert sink.quotes == [] and sink.declared == []  # refused before anything ran
    con = duckdb.connect(str(db), read_only=True)
    with pytest.raises(ValueError, match="give an engine, or a feed"):
        Replay(None, con, ["BTCUSDT"])
    con.close()


def test_a_recorder_that_cannot_open_its_database_falls_back_without_raising(
    tmp_path: Path,
) -> None:
    (tmp_path / "ticks.duckdb").mkdir()  # a folder where the database should be
    sink, lines = RecordingSink(), []

    async def scenario() -> None:
        sup = backpack(tmp_path, f"ws://127.0.0.1:{closed_port()}", lines, sink)
        task = asyncio.create_task(sup.run())
        await eventually(lambda: sink.quotes, timeout=3, what="simulated quotes")
        assert sup.status()["state"] == "SIMULATED" and not task.done()
        await sup.stop()
        await task

    run(scenario())
    assert lines[1].startswith("Backpack feed unavailable (recorder failed: IO Error: ")
    assert lines[-1] == "Feed stopped"
