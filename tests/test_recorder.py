"""The recorder against the fake Backpack server over real WebSockets on localhost."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from workbench.cli import build_parser, main
from workbench.feeds.backpack import streams_for
from workbench.feeds.backpack_client import now_us
from workbench.recorder import Recorder, RecorderConfig
from workbench.recorder.stats import RecorderStats, SymbolStats
from workbench.recorder.status import StatusFormatter, StatusLine
from workbench.store.live import read_gaps, read_quotes, read_trades
from workbench.testing.backpack_frames import Frame, make_ticks
from workbench.testing.fake_backpack import FakeBackpack
from workbench.testing.fake_backpack_thread import FakeBackpackThread
from workbench.testing.waiting import eventually, wait_until

SYMBOLS = ["BTC_USDC", "ETH_USDC", "SOL_USDC"]
STREAMS = streams_for(SYMBOLS, ["bookTicker", "trade"])


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 40))


def config(tmp_path: Path, url: str, **overrides: Any) -> RecorderConfig:
    settings: dict[str, Any] = dict(
        symbols=SYMBOLS,
        url=url,
        db_path=tmp_path / "ticks.duckdb",
        parquet_dir=tmp_path / "parquet",
        parquet_every=0.2,
        flush_interval=0.2,
        ping_interval=0.25,
        ping_timeout=0.5,
        close_timeout=0.3,
        backoff_initial=0.02,
        backoff_max=0.1,
    )
    settings.update(overrides)
    return RecorderConfig(**settings)


@asynccontextmanager
async def recording(cfg: RecorderConfig) -> AsyncIterator[Recorder]:
    rec = Recorder(cfg)
    task = asyncio.create_task(rec.run_async())
    try:
        yield rec
    finally:
        rec.stop()
        await task


def quotes_of(frames: list[Frame]) -> list[tuple[object, ...]]:
    rows = [
        (
            d["s"],
            d["T"],
            d["E"],
            Decimal(d["b"]),
            Decimal(d["a"]),
            Decimal(d["B"]),
            Decimal(d["A"]),
            int(d["u"]),
        )
        for f in frames
        if (d := f.data)["e"] == "bookTicker"
    ]
    return sorted(rows, key=lambda r: (r[0], r[7]))


def trades_of(frames: list[Frame]) -> list[tuple[object, ...]]:
    rows = [
        (d["s"], d["t"], d["T"], d["E"], Decimal(d["p"]), Decimal(d["q"]), d["m"])
        for f in frames
        if (d := f.data)["e"] == "trade"
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def stored(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        quotes = con.execute(
            "SELECT symbol, t, e, bid, ask, bid_qty, ask_qty, update_id FROM "
            "quotes ORDER BY symbol, update_id"
        ).fetchall()
        trades = con.execute(
            "SELECT symbol, trade_id, t, e, price, qty, buyer_maker FROM trades "
            "ORDER BY symbol, trade_id"
        ).fetchall()
        gaps = con.execute(
            "SELECT symbol, start_us, end_us, reason, source FROM gaps ORDER BY start_us"
        ).fetchall()
        assert con.execute(
            "SELECT DISTINCT source FROM quotes UNION SELECT DISTINCT source FROM trades"
        ).fetchall() in ([], [("backpack",)])
    finally:
        con.close()
    return quotes, trades, gaps


async def publish(fake: FakeBackpack, frames: list[Frame], rec: Recorder, total: int) -> None:
    for f in frames:
        await fake.publish(f)
    await eventually(lambda: rec.stats.ticks >= total, timeout=5, what=f"{total} ticks")


def test_records_exactly_what_was_sent_and_commits_within_a_second(tmp_path: Path) -> None:
    frames = make_ticks(SYMBOLS, 40)

    async def scenario() -> None:
        async with (
            FakeBackpack() as fake,
            recording(config(tmp_path, fake.url, flush_interval=0.5)) as rec,
        ):
            await fake.wait_subscribed(STREAMS)
            before = now_us()
            for f in frames:
                await fake.publish(f)
            await eventually(lambda: rec.stats.ticks == len(frames), timeout=5)
            after = now_us()
            writer = rec._writer
            assert writer is not None
            await eventually(
                lambda: sum(writer.committed.values()) == len(frames),
                timeout=1.5,
                what="commit within the flush interval",
            )
            assert all(
                before <= s.last_recv_us <= after  # type: ignore[operator]
                for s in rec.stats.symbols.values()
            )

    run(scenario())
    quotes, trades, gaps = stored(tmp_path / "ticks.duckdb")
    assert quotes == quotes_of(frames)
    assert trades == trades_of(frames)
    assert len(quotes) + len(trades) == len(frames) and gaps == []
    live_q = read_quotes(tmp_path / "parquet")  # polars by default
    assert sorted(
        (r["symbol"], r["update_id"], r["bid"], r["ask_qty"]) for r in live_q.iter_rows(named=True)
    ) == [(r[0], r[7], r[3], r[6]) for r in quotes]
    live_t = read_trades(tmp_path / "parquet", backend="pandas")
    assert sorted(zip(live_t["symbol"], live_t["trade_id"], live_t["price"], strict=True)) == [
        (r[0], r[1], r[4]) for r in trades
    ]


def test_survives_drop_close_and_missed_pongs_without_duplicates(tmp_path: Path) -> None:
    frames = make_ticks(SYMBOLS, 40)
    batches = [frames[i : i + 30] for i in range(0, 120, 30)]

    async def scenario() -> None:
        async with (
            FakeBackpack(replay_on_subscribe=3) as fake,
            recording(config(tmp_path, fake.url)) as rec,
        ):
            await fake.wait_subscribed(STREAMS)
            total = len(batches[0])
            await publish(fake, batches[0], rec, total)
            await fake.drop()  # TCP reset, no Close frame
            await fake.wait_subscribed(STREAMS, connection=2)
            total += len(batches[1])
            await publish(fake, batches[1], rec, total)
            await fake.close_connections(1001, "maintenance")  # server Close frame
            await fake.wait_subscribed(STREAMS, connection=3)
            total += len(batches[2])
            await publish(fake, batches[2], rec, total)
            await fake.blackhole()  # pings unanswered: client gives up
            await fake.wait_subscribed(STREAMS, connection=4)
            total += len(batches[3])
            await publish(fake, batches[3], rec, total)
            assert rec.stats.duplicates > 0  # the snapshots were re-sent ...
            assert rec.stats.connections == 4 and rec.stats.gaps == 3

    run(scenario())
    quotes, trades, gaps = stored(tmp_path / "ticks.duckdb")
    assert quotes == quotes_of(frames)  # ... but stored once
    assert trades == trades_of(frames)
    assert [g[3] for g in gaps] == [
        "dropped (1006, no close frame)",
        "server closed (1001 maintenance)",
        "client closed (1011 keepalive ping timeout)",
    ]
    assert all(g[0] is None and g[1] <= g[2] and g[4] == "backpack" for g in gaps)
    assert gaps[0][2] <= gaps[1][1] and gaps[1][2] <= gaps[2][1]
    assert read_gaps(tmp_path / "parquet", backend="arrow").column("reason").to_pylist() == [
        g[3] for g in gaps
    ]


def test_error_and_malformed_frames_are_counted_and_not_fatal(tmp_path: Path) -> None:
    frames = make_ticks(SYMBOLS, 10)
    good = frames[0]
    junk = [
        "not json at all",
        '{"data":{"e":"bookTicker"},"stream":"bookTicker.BTC_USDC"}',
        re.sub(r'"b":"([0-9.]+)"', r'"b":\1', good.text, count=1),  # price as a JSON number
        good.text.replace(f'"s":"{good.data["s"]}"', '"s":"XRP_USDC"'),
    ]

    async def scenario() -> None:
        async with FakeBackpack() as fake, recording(config(tmp_path, fake.url)) as rec:
            await fake.wait_subscribed(STREAMS)
            await fake.send_error(4006, "Invalid stream")
            for text in junk:
                await fake.send_raw(text)
            await fake.send_error(4002, "Parse error")
            await publish(fake, frames, rec, len(frames))
            assert rec.stats.errors == 2 and rec.stats.last_error == "4002 Parse error"
            assert rec.stats.malformed == len(junk)
            assert fake.accepted == 1 and rec.stats.connected

    run(scenario())
    quotes, trades, gaps = stored(tmp_path / "ticks.duckdb")
    assert (quotes, trades, gaps) == (quotes_of(frames), trades_of(frames), [])


def test_a_restart_does_not_store_what_the_first_run_stored(tmp_path: Path) -> None:
    frames = make_ticks(SYMBOLS, 20)
    first, second = frames[:30], frames[30:]

    async def scenario() -> None:
        async with FakeBackpack(replay_on_subscribe=5) as fake:
            async with recording(config(tmp_path, fake.url)) as rec:
                await fake.wait_subscribed(STREAMS)
                await publish(fake, first, rec, len(first))
            async with recording(config(tmp_path, fake.url)) as rec:
                await fake.wait_subscribed(STREAMS, connection=2)
                await publish(fake, second, rec, len(second))
                assert rec.stats.duplicates > 0

    run(scenario())
    quotes, trades, _ = stored(tmp_path / "ticks.duckdb")
    assert (quotes, trades) == (quotes_of(frames), trades_of(frames))


def test_backs_off_while_refused_and_records_the_outage(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeBackpack() as fake:
            fake.refuse(4)
            cfg = config(tmp_path, fake.url, backoff_initial=0.04, backoff_max=0.16)
            async with recording(cfg) as rec:
                await fake.wait_subscribed(STREAMS, timeout=5)
                assert rec.stats.connect_failures == 4
                waits = [
                    b - a
                    for a, b in zip(fake.handshake_times, fake.handshake_times[1:], strict=False)
                ]
                caps = [0.04, 0.08, 0.16, 0.16]
                assert len(waits) == 4
                assert all(w >= c / 2 - 0.005 for w, c in zip(waits, caps, strict=True)), waits
                await fake.drop()
                fake.refuse(1000)
                await fake.wait_for(lambda: fake.refused >= 6, timeout=5)

    run(scenario())
    _, _, gaps = stored(tmp_path / "ticks.duckdb")
    assert len(gaps) == 2
    assert gaps[0][3] == "connect failed: HTTP 503"
    assert gaps[1][3] == "dropped (1006, no close frame); recorder stopped while down"


def test_background_run_for_notebooks(tmp_path: Path) -> None:
    frames = make_ticks(["SOL_USDC"], 12)
    with FakeBackpackThread() as fake:
        rec = Recorder(config(tmp_path, fake.url, symbols=["SOL_USDC"]))
        rec.start_background()
        try:
            fake.wait_subscribed(["bookTicker.SOL_USDC", "trade.SOL_USDC"])
            for f in frames:
                fake.publish(f)
            wait_until(lambda: rec.stats.ticks == len(frames), timeout=5)
        finally:
            rec.stop()
            rec.join(10)
    quotes, trades, _ = stored(tmp_path / "ticks.duckdb")
    assert (quotes, trades) == (quotes_of(frames), trades_of(frames))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_line_in_place_on_a_terminal_and_plain_lines_otherwise() -> None:
    stats = RecorderStats(
        symbols={"SOL_USDC": SymbolStats(quotes=5, trades=1, last_recv_us=1_000_000)}
    )
    fmt = StatusFormatter()
    first = fmt.render(stats, now_us=3_500_000)
    assert first.startswith("SOL_USDC - 2.5s | ticks=6 dup=0 gaps=0")
    stats.symbols["SOL_USDC"].quotes += 10
    assert "/s 2.5s" in fmt.render(stats, now_us=3_500_000)
    term, plain = _Terminal(), io.StringIO()
    for out in (StatusLine(term), StatusLine(plain)):
        out.show("a")
        out.show("b")
        out.close()
    assert term.getvalue() == "\ra\x1b[K\rb\x1b[K\n"
    assert plain.getvalue() == "a\nb\n"


def test_record_command_is_registered_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(
        ["record", "--symbols", "BTC_USDC, SOL_USDC", "--url", "ws://127.0.0.1:9"]
    )
    assert args.symbols == ["BTC_USDC", "SOL_USDC"] and args.streams == ["bookTicker", "trade"]
    assert args.func.__name__ == "run_record"
    with pytest.raises(SystemExit) as bad:
        main(
            [
                "record",
                "--symbols",
                "SOL_USDC",
                "--streams",
                "depth",
                "--db",
                str(tmp_path / "x.duckdb"),
            ]
        )
    assert bad.value.code == 2
    assert "can record only" in capsys.readouterr().err
