"""The server's feed: Backpack unreachable -> SIMULATED (said on the console, shown in
/health and /prices), back to LIVE when Backpack returns; and a replay feed from the store."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from server_helpers import free_port, register, running_server, wait_price

from workbench.feeds.backpack_client import now_us
from workbench.store.schema import connect
from workbench.store.writer import write_quotes
from workbench.testing.backpack_frames import book_ticker_frame
from workbench.testing.fake_backpack_thread import FakeBackpackThread
from workbench.ticks import Quote


def wait_feed(c: httpx.Client, state: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    feed: dict[str, Any] = {}
    while time.monotonic() < deadline:
        feed = c.get("/health").json()["feed"]
        if feed["state"] == state:
            return feed
        time.sleep(0.1)
    raise AssertionError(f"feed never {state}: {feed}")


def test_falls_back_to_simulated_and_returns_to_live(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: Backpack is "unreachable"
    url = f"ws://127.0.0.1:{port}"
    with running_server(tmp_path, feed="backpack", backpack_url=url,
                        extra=["--fallback-after", "1"]) as srv, srv.client() as c:  # fmt: skip
        feed = wait_feed(c, "SIMULATED")
        assert feed["source"] == "synthetic" and not feed["connected"]
        assert c.get("/prices").json()["feed"] == "SIMULATED"
        assert "SIMULATED" in srv.output()  # said on the console
        register(c, "sim@example.com")
        r = c.post("/trade/create", json={"asset": "BTC", "side": "long", "qty": "0.001",
                                          "leverage": "5"})  # fmt: skip
        assert r.status_code == 201, r.text  # simulated prices are tradable
        fake = FakeBackpackThread(port=port)  # Backpack comes back
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and c.get("/health").json()["feed"]["state"] != (
                "LIVE"):  # fmt: skip
                fake.publish(book_ticker_frame("BTC_USDC", bid="61000", ask="61000.5",
                                               bid_qty="1", ask_qty="1", update_id=int(
                                                   time.time() * 1000), t=now_us()))  # fmt: skip
                time.sleep(0.2)
            feed = wait_feed(c, "LIVE", timeout=1)
            assert feed["source"] == "backpack" and feed["connected"]
            wait_price(c, "BTC_USDC", "61000")
            time.sleep(0.6)  # no simulated quote comes after the first live one
            btc = [p for p in c.get("/prices").json()["prices"] if p["symbol"] == "BTC_USDC"][0]
            assert Decimal(btc["bid"]) == Decimal("61000")
        finally:
            fake.stop()


def test_replay_feed_serves_stored_quotes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    con = connect(data / "workbench.duckdb")
    t0 = 1_723_161_254_000_000
    quotes = [Quote("BTCUSDT", t0 + i * 100_000, t0 + i * 100_000,
                    Decimal("61000") + i, Decimal("61000.01") + i, Decimal(1), Decimal(1))
              for i in range(50)]  # fmt: skip
    write_quotes(con, quotes, "csv")
    con.close()
    with running_server(data, feed="replay:BTCUSDT@..", extra=["--speed", "0"]) as srv, \
            srv.client() as c:  # fmt: skip
        feed = wait_feed(c, "REPLAY")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "finished" not in feed["message"]:
            feed = c.get("/health").json()["feed"]
            time.sleep(0.1)
        assert "finished" in feed["message"]
        prices = {p["symbol"]: p for p in c.get("/prices").json()["prices"]}
        assert Decimal(prices["BTCUSDT"]["bid"]) == Decimal("61049")
        register(c, "rep@example.com")
        r = c.post("/trade/create", json={"asset": "BTCUSDT", "side": "short", "qty": "0.01",
                                          "leverage": "10"})  # fmt: skip
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        assert Decimal(order["openingPrice"]) == Decimal("61049")  # the replay's price
        assert order["openedAt"].startswith("2024-08-08T23:54:18.9")  # the replay's time
        candles = c.get("/candles", params={"asset": "BTCUSDT", "ts": "1s"}).json()["data"]
        assert sum(k["quotes"] for k in candles) == 50


def test_bad_feed_spec_is_refused_before_serving(tmp_path: Path) -> None:
    import subprocess
    import sys

    for spec, word in (("carrier-pigeon", "backpack"), ("replay:BTCUSDT@2024-08-09..2024-08-08",
                                                        "empty")):  # fmt: skip
        res = subprocess.run([sys.executable, "-m", "workbench.cli", "serve", "--data-dir",
                              str(tmp_path), "--feed", spec], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
        assert res.returncode == 2 and word in res.stderr, res.stderr
