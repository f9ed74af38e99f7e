"""The replay page in Chromium: recorded quotes (the real captures when they are beside the
repository, else simulated ones written to the tick store) played into a private engine
with a strategy trading; the chart, the equity curve and the trade marks grow."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_helpers import chromium, model_js, rows, shot, wait_for
from server_helpers import Server, running_server

from workbench.demo import _store_ticks


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[str]]]:
    data = tmp_path_factory.mktemp("replay") / "data"
    data.mkdir(parents=True)
    symbols, _source = _store_ticks(data / "workbench.duckdb", say=lambda _m: None)
    with running_server(data, feed="synthetic") as srv:
        yield srv, symbols


def _length(page, source: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.evaluate(model_js(source, "m.data.t.length")) or 0)


def test_a_replay_plays_trades_and_its_chart_grows(replay_server: tuple[Server, list[str]]) -> None:
    server, symbols = replay_server
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(server.url + "/dashboard/replay")
        page.get_by_text("Pick symbols and a range, then Load.").wait_for(timeout=20_000)
        # the recorded symbols of the tick store are offered, the first one chosen
        shot(page, "dashboard-replay-start")
        # the simulated market has no stored time range: the field is off while it is ticked
        when = page.get_by_label("Time range (UTC)")
        assert when.is_enabled()
        simulated = page.locator(".symbol-picker label", has_text="SIMULATED").locator("input")
        simulated.click()
        wait_for(lambda: when.is_disabled(), "the time range off for the simulated market")
        simulated.click()
        wait_for(lambda: when.is_enabled(), "the time range back for the recorded symbols")
        page.get_by_label("Strategy").select_option(label="bracket ±0.3 %, re-entered")
        page.get_by_label("Speed").select_option(label="60×")
        page.get_by_role("button", name="Load").click()
        page.get_by_text("quotes of").first.wait_for(timeout=30_000)
        total = int(page.locator("[data-total]").get_attribute("data-total") or 0) if page.locator(
            "[data-total]").count() else None  # fmt: skip
        page.get_by_role("button", name="Play", exact=True).click()
        first = wait_for(lambda: _length(page, "candles"), "the first candles")
        wait_for(lambda: _length(page, "candles") > first + 5, "the chart to grow")
        wait_for(lambda: _length(page, "equity") > 3, "the equity curve")
        wait_for(lambda: _length(page, "marks") >= 1, "the strategy's entry marked")
        # trade by hand against the replay: close the strategy's position with its button
        page.locator(".positions-table").get_by_role("button", name="Close").first.click()
        wait_for(lambda: "exit" in (page.evaluate(model_js("marks", "Array.from(m.data.kind)"))
                                    or []), "the exit marked")  # fmt: skip
        pos = wait_for(lambda: int(page.locator("[data-pos]").get_attribute("data-pos") or 0),
                       "the replay position")  # fmt: skip
        assert pos > 0 and (total is None or pos <= total)
        shot(page, "dashboard-replay")
        kinds = page.evaluate(model_js("marks", "Array.from(m.data.kind)"))
        assert kinds[0] == "long" and "exit" in kinds, kinds

        # the same ticket and tables on the replay's engine: a limit order, then cancelled
        page.get_by_role("button", name="Pause", exact=True).click()
        bid = page.evaluate(model_js("quotes", "m.data.bid[m.data.bid.length - 1]"))
        price = str(int(bid * 0.99))
        page.get_by_role("button", name="Limit", exact=True).click()
        page.get_by_label("Price", exact=True).fill(price)
        page.get_by_role("button", name="Place long limit").click()
        page.get_by_text(re.compile(f"Placed long limit .* at {price}")).wait_for(timeout=15_000)
        page.get_by_text("Pending orders", exact=True).click()
        wait_for(lambda: len(rows(page, ".orders-table")) == 1, "the order in the table")
        pending = model_js("price_lines", "Array.from(m.data.y).filter((y, i) => "
                           "m.data.kind[i] == 'pending')")  # fmt: skip
        wait_for(lambda: page.evaluate(pending) == [int(price)], "the order's line")
        shot(page, "dashboard-replay-order")
        page.locator(".orders-table").get_by_role("button", name="Cancel").click()
        wait_for(lambda: rows(page, ".orders-table") == [], "the order cancelled")
        wait_for(lambda: page.evaluate(pending) == [], "its line gone")
