"""The live chart opens with its past, in Debian's Chromium: a real server on the fake
Backpack (WebSocket) and its REST API fake (klines), over a tick store that recorded
quotes before the server started. The 1s chart shows the stored quotes' candles, the 1m
chart Backpack's klines backfilled at the start; the moving average and Bollinger bands
follow the candles shown; the marks of the user's trades come back after a reload and
after a switch of instrument. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from browser_helpers import chromium, model_js, register_in_page, shot, wait_for
from playwright.sync_api import Page
from server_helpers import Market, Server, bearer, start_server, wait_price

from workbench.feeds.backpack_client import now_us
from workbench.store.schema import connect
from workbench.testing.fake_backpack_rest import FakeBackpackRest, rest_kline

STORED_S = 300  # seconds of quotes recorded before the server starts (one a second)
KLINES = 180  # 1m klines Backpack's REST API has (the last 3 hours)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Market]]:
    data = tmp_path_factory.mktemp("history") / "data"
    data.mkdir(parents=True)
    con = connect(data / "workbench.duckdb")
    start = now_us() - (STORED_S + 5) * 1_000_000
    con.executemany(
        "INSERT INTO quotes (symbol, t, recv, bid, ask, source) VALUES (?, ?, ?, ?, ?, ?)",
        [("BTC_USDC", start + s * 1_000_000, start + s * 1_000_000,
          Decimal(59_900 + s % 50), Decimal(59_900 + s % 50) + Decimal("0.5"), "backpack")
         for s in range(STORED_S)],
    )  # fmt: skip
    con.close()
    rest = FakeBackpackRest().start()
    minute = int(time.time()) // 60 * 60
    rest.add_klines("BTC_USDC", "1m", [
        rest_kline(minute - 60 * (KLINES + 10 - i), "1m", str(59_000 + i), str(59_010 + i),
                   str(58_990 + i), str(59_005 + i), "1.5", trades=3)
        for i in range(KLINES)
    ])  # fmt: skip
    market = Market()
    srv = start_server(data, feed="backpack", backpack_url=market.url,
                       extra=["--fallback-after", "120"],
                       env={"WORKBENCH_BACKPACK_REST_URL": rest.url})  # fmt: skip
    try:
        market.fake.wait_subscribed(["bookTicker.BTC_USDC"])
        with srv.client() as c:
            market.set("BTC_USDC", "60000", "60000.5")
            wait_price(c, "BTC_USDC", "60000")
        yield srv, market
    finally:
        code = srv.stop()
        market.stop()
        rest.stop()
        assert code == 0, srv.output()
    assert [r.path for r in rest.requests if r.path == "/api/v1/klines"], "no klines asked"


def _candles(page: Page) -> int:
    return int(page.evaluate(model_js("candles", "m.data.t.length")) or 0)


def _minutes(page: Page) -> int:
    """Candles on the chart when they are 1m ones (0 while the 1s ones are still shown)."""
    t = page.evaluate(model_js("candles", "Array.from(m.data.t)")) or []
    return (
        len(t) if len(t) > 1 and all(b - a >= 60_000 for a, b in zip(t, t[1:], strict=False)) else 0
    )


def _kinds(page: Page) -> list[str]:
    return list(page.evaluate(model_js("marks", "Array.from(m.data.kind)")) or [])


def test_the_chart_opens_with_history_and_overlays(served: tuple[Server, Market]) -> None:
    server, _market = served
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        register_in_page(page, server.url, "hist@example.com", "Hist")
        # 1s: the stored quotes' candles before the one or two the server saw live
        wait_for(lambda: _candles(page) >= STORED_S - 5, "the stored 1s candles")
        shot(page, "dashboard-history-1s")
        page.get_by_role("button", name="1m", exact=True).click()
        # 1m: Backpack's klines (backfilled at the start) and the stored quotes' minutes
        wait_for(lambda: _minutes(page) >= KLINES, "the backfilled 1m candles")
        first = page.evaluate(model_js("candles", "m.data.t[0]"))
        assert first <= (time.time() - 3 * 3600) * 1000 + 20 * 60_000, first
        # the overlays, each with its checkbox, computed from the candles shown
        page.get_by_text("MA 20", exact=True).click()
        page.get_by_text("Bollinger 20, 2σ", exact=True).click()
        ma = wait_for(lambda: page.evaluate(model_js("overlays", "Array.from(m.data.ma)")),
                      "the moving average")  # fmt: skip
        closes = page.evaluate(model_js("candles", "Array.from(m.data.close)"))
        assert len(ma) == len(closes) and all(v is None or math.isnan(v) for v in ma[:19])
        assert ma[-1] == pytest.approx(sum(closes[-20:]) / 20)
        assert page.evaluate(model_js("ma_line", "m.visible"))
        wait_for(lambda: page.evaluate(model_js("boll_upper", "m.visible")), "the bands shown")
        up = page.evaluate(model_js("overlays", "m.data.upper[m.data.upper.length - 1]"))
        assert up > ma[-1]
        assert not page.evaluate(model_js("simulated_label", "m.visible"))  # LIVE prices
        shot(page, "dashboard-history-1m-overlays")


def test_trade_marks_survive_a_reload_and_a_switch(served: tuple[Server, Market]) -> None:
    server, market = served
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        page = ctx.new_page()
        register_in_page(page, server.url, "marks@example.com", "Marks")
        with server.client() as c:
            r = c.post("/auth/login", json={"email": "marks@example.com",
                                            "password": "correct horse 1"})  # fmt: skip
            auth = bearer(r.json()["token"])
            market.set("BTC_USDC", "60000", "60000.5")
            wait_price(c, "BTC_USDC", "60000")
            opened = c.post(
                "/trade/open",
                headers=auth,
                json={"asset": "BTC_USDC", "side": "long", "leverage": "10", "margin": "100"},
            )
            assert opened.status_code == 201, opened.text
            closed = c.post(f"/trade/close/{opened.json()['orderId']}", headers=auth)
            assert closed.status_code == 200, closed.text  # fmt: skip
        wait_for(lambda: _kinds(page) == ["long", "exit"], "the marks, live")
        page.reload()
        page.get_by_role("button", name="Open long").wait_for(timeout=20_000)
        wait_for(lambda: _kinds(page) == ["long", "exit"], "the marks after a reload")
        shot(page, "dashboard-history-marks-reloaded")
        page.get_by_label("Instrument").select_option("ETH_USDC")
        wait_for(lambda: _kinds(page) == [], "no BTC marks on ETH")
        page.get_by_label("Instrument").select_option("BTC_USDC")
        wait_for(lambda: _kinds(page) == ["long", "exit"], "the marks after a switch")
        ctx.close()
