"""The fake Backpack server speaks the real protocol over real WebSockets on localhost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect as sync_connect

from workbench.testing.backpack_frames import (
    REAL_BOOK_TICKER,
    REAL_BOOK_TICKER_BTC,
    REAL_TRADE,
    Close,
    ErrorFrame,
    Raw,
    WaitSubscribed,
    book_ticker_frame,
    load_recording,
    make_ticks,
    trade_frame,
    write_recording,
)
from workbench.testing.fake_backpack import FakeBackpack
from workbench.testing.fake_backpack_thread import FakeBackpackThread

SOL = "bookTicker.SOL_USDC"
SOL_TRADE = "trade.SOL_USDC"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def q(i: int, symbol: str = "SOL_USDC"):  # noqa: ANN201 - Frame
    return book_ticker_frame(
        symbol,
        bid=f"218.{i:02d}",
        ask=f"218.{i + 3:02d}",
        bid_qty="1.00",
        ask_qty="2.00",
        update_id=1000 + i,
        t=1_736_172_777_000_000 + i,
    )


async def subscribe(ws: ClientConnection, *streams: str, method: str = "SUBSCRIBE") -> None:
    await ws.send(json.dumps({"method": method, "params": list(streams), "id": 1}))


async def recv(ws: ClientConnection) -> str:
    msg = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(msg, str)
    return msg


def test_builders_reproduce_the_verbatim_real_frames() -> None:
    assert (
        book_ticker_frame(
            "SOL_USDC",
            bid="218.58",
            ask="218.61",
            bid_qty="56.02",
            ask_qty="19.60",
            update_id=1802083092,
            t=1736172777497712,
            e=1736172777506225,
        ).text
        == REAL_BOOK_TICKER
    )
    assert (
        book_ticker_frame(
            "BTC_USDC",
            bid="68983.0",
            ask="68983.1",
            bid_qty="0.02426",
            ask_qty="0.06093",
            update_id=2442329321,
            t=1771003771690207,
            e=1771003771693848,
        ).text
        == REAL_BOOK_TICKER_BTC
    )
    assert (
        trade_frame(
            "SOL_USDC",
            trade_id=341399899,
            price="218.50",
            qty="0.07",
            buyer_maker=True,
            t=1736186248744398,
            e=1736186248745457,
            buyer_order_id="113782700596854784",
            seller_order_id="113782701997686784",
        ).text
        == REAL_TRADE
    )
    with pytest.raises(TypeError):
        book_ticker_frame(
            "X",
            bid=1.5,
            ask="2",
            bid_qty="1",
            ask_qty="1",  # type: ignore[arg-type]
            update_id=1,
            t=1,
        )


def test_subscribe_is_silent_without_duplicates_and_unknown_symbols_stay_silent() -> None:
    async def scenario() -> None:
        async with FakeBackpack() as fake, connect(fake.url) as ws:
            await subscribe(ws, SOL, "bookTicker.NOPE_USDC")
            await subscribe(ws, SOL)  # twice: still one copy per frame
            await fake.wait_subscribed([SOL, "bookTicker.NOPE_USDC"])
            assert await fake.publish(q(1, "ETH_USDC")) == 0  # nobody subscribed
            assert await fake.publish(q(1)) == 1
            assert await recv(ws) == q(1).text  # nothing (no reply) came before it
            await fake.publish(q(2))
            assert await recv(ws) == q(2).text  # and no duplicate of q(1) either
            await subscribe(ws, SOL, method="UNSUBSCRIBE")
            await fake.wait_for(lambda: SOL not in fake.connections[1].streams)
            await subscribe(ws, SOL_TRADE)
            await fake.wait_subscribed([SOL_TRADE])
            await fake.publish(q(3))
            tr = trade_frame(
                "SOL_USDC",
                trade_id=5,
                price="218.50",
                qty="0.07",
                buyer_maker=False,
                t=1_736_186_248_744_398,
            )
            await fake.publish(tr)
            assert await recv(ws) == tr.text  # the unsubscribed quote never came

    run(scenario())


def test_bad_requests_get_the_real_error_frames_and_the_socket_stays_open() -> None:
    async def scenario() -> None:
        async with FakeBackpack() as fake, connect(fake.url) as ws:
            await subscribe(ws, "foo.SOL_USDC")
            assert await recv(ws) == '{"error":{"code":4006,"message":"Invalid stream"},"id":null}'
            await ws.send('{"method":"SUBSCRIBEX","params":["bookTicker.SOL_USDC"]}')
            assert json.loads(await recv(ws)) == {
                "id": None,
                "error": {"code": 4002, "message": "Parse error"},
            }
            await ws.send("hello")
            assert json.loads(await recv(ws))["error"]["code"] == 4002
            await subscribe(ws, "depth.123ms.SOL_USDC")
            assert json.loads(await recv(ws))["error"] == {
                "code": 4008,
                "message": "Invalid depth window",
            }
            await subscribe(ws, SOL)
            await fake.wait_subscribed([SOL])
            await fake.publish(q(1))
            assert await recv(ws) == q(1).text
            assert fake.accepted == 1 and not fake.closed

    run(scenario())


def test_server_pings_and_closes_a_client_that_never_pongs() -> None:
    async def scenario() -> None:
        async with (
            FakeBackpack(ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2) as fake,
            connect(fake.url, ping_interval=None) as lively,
        ):
            mute = await connect(fake.url, ping_interval=None)
            mute.transport.pause_reading()  # never reads the pings, so never pongs
            closed = await fake.wait_closed(2, timeout=5)
            assert closed.sent_code == 1011 and closed.sent_reason == "keepalive ping timeout"
            assert 1 in fake.connections  # the client that answers stays connected
            assert fake.connections[1].ws.latency > 0  # its pongs came back
            await subscribe(lively, SOL)
            await fake.wait_subscribed([SOL])
            mute.transport.abort()

    run(scenario())


def test_drop_close_and_malformed_injection() -> None:
    async def scenario() -> None:
        async with FakeBackpack() as fake:
            async with connect(fake.url) as ws:
                await subscribe(ws, SOL)
                await fake.wait_subscribed([SOL])
                await fake.send_raw('{"data":{"e":"bookTicker"', stream=SOL)
                assert await recv(ws) == '{"data":{"e":"bookTicker"'
                await fake.send_error(4006, "Invalid stream")
                assert json.loads(await recv(ws))["error"]["code"] == 4006
                await fake.drop()
                with pytest.raises(ConnectionClosedError) as info:
                    await recv(ws)
                assert info.value.rcvd is None  # no Close frame: an abnormal 1006 closure
            async with connect(fake.url) as ws:
                await fake.wait_for(lambda: 2 in fake.connections)
                await fake.play([Close(1001, "maintenance")])
                with pytest.raises(ConnectionClosedOK) as ok:
                    await recv(ws)
                assert ok.value.rcvd is not None
                assert (ok.value.rcvd.code, ok.value.rcvd.reason) == (1001, "maintenance")

    run(scenario())


def test_blackhole_and_refused_handshakes() -> None:
    async def scenario() -> None:
        async with FakeBackpack() as fake:
            fake.refuse(1)
            with pytest.raises(InvalidStatus) as info:
                await connect(fake.url)
            assert info.value.response.status_code == 503
            async with connect(
                fake.url, ping_interval=0.1, ping_timeout=0.2, close_timeout=0.2
            ) as ws:
                await subscribe(ws, SOL)
                await fake.wait_subscribed([SOL])
                await fake.blackhole()
                assert await fake.publish(q(1)) == 0
                with pytest.raises(ConnectionClosedError) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.sent is not None
                assert closed.value.sent.reason == "keepalive ping timeout"

    run(scenario())


def test_snapshot_replay_on_subscribe_resends_recent_frames() -> None:
    async def scenario() -> None:
        async with FakeBackpack(replay_on_subscribe=2) as fake:
            for i in range(1, 5):
                await fake.publish(q(i))
            async with connect(fake.url) as ws:
                await subscribe(ws, SOL)
                assert [await recv(ws), await recv(ws)] == [q(3).text, q(4).text]

    run(scenario())


def test_script_from_a_recorded_file(tmp_path: Path) -> None:
    frames = make_ticks(["SOL_USDC"], 6)
    path = tmp_path / "rec.txt"
    write_recording(path, [*frames[:3], Raw("garbage"), *frames[3:]], step_ns=2_000_000)
    script = load_recording(path, speed=100.0)
    assert sum(1 for s in script if type(s).__name__ == "Sleep") == 6

    async def scenario() -> None:
        async with FakeBackpack() as fake, connect(fake.url) as ws:
            await subscribe(ws, SOL, SOL_TRADE)
            await fake.play(
                [WaitSubscribed((SOL, SOL_TRADE)), *script, ErrorFrame(4002, "Parse error")]
            )
            got = [await recv(ws) for _ in range(8)]
            assert got[:3] == [f.text for f in frames[:3]]
            assert got[3] == "garbage"
            assert got[4:7] == [f.text for f in frames[3:]]
            assert json.loads(got[7])["error"]["code"] == 4002

    run(scenario())


def test_threaded_fake_for_synchronous_code() -> None:
    with FakeBackpackThread() as fake, sync_connect(fake.url) as ws:
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": [SOL]}))
        assert fake.wait_subscribed([SOL]) == 1
        assert fake.publish(q(7)) == 1
        assert ws.recv(timeout=5) == q(7).text
        assert fake.drop() == 1
