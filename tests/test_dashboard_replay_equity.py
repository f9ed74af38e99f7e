"""The replay page's equity curve in Debian's Chromium: a recorded hour with a sharp dip
at half time, a long position opened by hand with the ticket (cross margin), then played
at max speed: the curve keeps the dip that made the margin call; after a seek back it is
rebuilt up to the seek point, its axis labelled with dates and times. Screenshots are
kept in test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from browser_helpers import chromium, model_js, register_in_page, shot, wait_for
from playwright.sync_api import Page
from server_helpers import Server, running_server

from workbench.store.schema import connect

T0 = 1_767_225_600_000_000  # 2026-01-01 00:00 UTC, µs
N = 3600  # an hour, a quote a second

EQUITY = model_js("equity", "[Math.min(...m.data.equity), m.data.t.length, m.data.t[0]]")
LEVEL = model_js("equity", "Math.min(...Array.from(m.data.level).filter(v => v == v))")
# the labels the equity chart's time axis draws for its ticks in its current range
LABELS = model_js(
    "equity_chart",
    """(() => {
  const ax = m.below[0], r = m.x_range;
  const ticks = ax.ticker.get_ticks(r.start, r.end, r, NaN).major;
  return ax.formatter.doFormat(ticks, {loc: 0});
})()""",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("replay_equity") / "data"
    data.mkdir(parents=True)
    con = connect(data / "workbench.duckdb")
    rows = []
    for s in range(N):  # 60000, but for a V down to 57500 and back from 30:00 to 30:40
        bid = 60_000 - (2_500 * (20 - abs(s - 1820)) // 20 if 1800 <= s <= 1840 else 0)
        t = T0 + s * 1_000_000
        rows.append(("BTC_USDC", t, t, Decimal(bid), Decimal(bid) + Decimal("0.5"), "backpack"))
    con.executemany(
        "INSERT INTO quotes (symbol, t, recv, bid, ask, source) VALUES (?, ?, ?, ?, ?, ?)", rows
    )
    con.close()
    with running_server(data, feed="synthetic") as srv:
        yield srv


def _status(page: Page) -> str:
    said = page.locator(".replay-said")
    return said.first.inner_text() if said.count() else ""


def test_the_equity_keeps_its_dip_at_max_speed_and_after_a_seek(served: Server) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(served.url + "/dashboard/replay")
        page.get_by_text("Pick symbols and a range, then Load.").wait_for(timeout=30_000)
        page.get_by_label("Margin", exact=True).select_option("cross")
        page.get_by_label("Speed").select_option(label="1×")
        page.get_by_role("button", name="Load").click()
        page.get_by_text("3,600 quotes of BTC_USDC loaded").wait_for(timeout=30_000)
        page.get_by_role("button", name="Play", exact=True).click()
        wait_for(lambda: int(page.locator("[data-pos]").get_attribute("data-pos") or 0)
                 if page.locator("[data-pos]").count() else 0, "a first quote")  # fmt: skip
        page.get_by_role("button", name="Pause", exact=True).click()
        # by hand: long 2000 USD at 50x, cross (the dip takes the margin level to ~42 %)
        page.get_by_label("Margin (USD)").fill("2000")
        page.get_by_label("Leverage").fill("50")
        page.get_by_label("Leverage").press("Enter")
        page.get_by_role("button", name="Open long").click()
        page.get_by_text(re.compile("Opened long")).first.wait_for(timeout=15_000)
        page.get_by_label("Speed").select_option(label="max")
        page.get_by_role("button", name="Play", exact=True).click()
        wait_for(lambda: "End of the tape" in _status(page), "the end of the tape")
        low, points, _ = page.evaluate(EQUITY)
        # at the bottom equity is about 833 (margin level 42 %): the curve has points
        # below the margin call (60 %, equity 1200), not only one per batch
        assert low < 1100 and page.evaluate(LEVEL) < 55 and points > 100, (low, points)
        # the price chart has the whole hour's candles, the dip's among them
        assert page.evaluate(model_js("candles", "m.data.t.length")) >= 200
        assert page.evaluate(model_js("candles", "Math.min(...m.data.low)")) < 57_600
        page.mouse.wheel(0, 400)  # down to the equity chart
        shot(page, "dashboard-replay-equity-dip")
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(300)  # (the scroll settles before the slider is clicked)
        # a seek back to 75 %: the curve rebuilt from the start to there, dip included
        track = page.locator(".noUi-target").first.bounding_box()
        assert track is not None
        page.mouse.click(track["x"] + track["width"] * 0.75, track["y"] + track["height"] / 2)
        wait_for(lambda: 0.7 < float(page.evaluate(model_js(
            "equity", "m.data.t[m.data.t.length - 1]")) - T0 / 1000) / 3.6e6 < 0.8,
            "the curve up to the seek point")  # fmt: skip
        low, points, first = page.evaluate(EQUITY)
        assert low < 1100 and points > 100 and first < T0 / 1000 + 60_000, (low, points, first)
        labels = wait_for(lambda: page.evaluate(LABELS), "the time axis labels")
        # clock times (a day's first tick: its date), the date under the first: no "738500us"
        heads = [s.split("\n")[0] for s in labels]
        assert all(re.fullmatch(r"\d\d:\d\d(:\d\d)?|[A-Z][a-z]{2} \d\d", h) for h in heads), labels
        assert "2026-01-01" in labels[0], labels
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(300)
        shot(page, "dashboard-replay-equity-seek")


def test_simulated_prices_are_labelled_on_the_live_chart(served: Server) -> None:
    with chromium() as browser:  # (this server's feed is the synthetic one: SIMULATED)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        register_in_page(page, served.url, "sim@example.com", "Sim")
        wait_for(lambda: page.evaluate(model_js("simulated_label", "m.visible")),
                 "the SIMULATED label")  # fmt: skip
        text = page.evaluate(model_js("simulated_label", "m.text"))
        assert text.startswith("SIMULATED"), text
        shot(page, "dashboard-live-simulated")
