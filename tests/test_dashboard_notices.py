"""Notifications that wait for you, in Debian's Chromium on a real server.

Margin calls fire while no page is open (a cross-margin account traded over the API, the
fake Backpack moving the price); after the login they are in the notifications panel,
unread, collapsed into one entry; opening the panel and "Mark read" store that they were
seen, so a reload shows them read.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from browser_helpers import shot, wait_for
from playwright.sync_api import Browser, Page
from server_helpers import Market, Server, bearer, register, wait_price

PASSWORD = "correct horse 1"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _level(api: httpx.Client) -> Decimal:
    return Decimal(api.get("/balance").json()["margin_level"] or "0")


def _move(api: httpx.Client, market: Market, bid: str, below: bool) -> None:
    """The price to `bid`, until the margin level is on the asked side of 60 %."""
    market.set("BTC_USDC", bid, str(Decimal(bid) + Decimal("0.5")))
    wait_for(lambda: (_level(api) < 60) == below, f"margin level {'<' if below else '>'} 60")


def _log_in(page: Page, base: str, email: str) -> None:
    page.goto(base + "/dashboard")
    page.get_by_placeholder("you@example.com").fill(email)
    page.locator("input[type=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Open long").wait_for(timeout=20_000)


def test_margin_calls_while_away_wait_unread_and_collapsed(
    server: Server, market: Market, page: Page
) -> None:
    email = "away@example.com"
    with server.client() as api:
        api.headers.update(bearer(register(api, email, margin_mode="cross")))
        market.set("BTC_USDC", "60000", "60000.5")
        wait_price(api, "BTC_USDC", "60000")
        r = api.post("/trade/create", json={"asset": "BTC", "side": "long", "leverage": "10",
                                            "margin": "4000"})  # fmt: skip
        assert r.status_code == 201, r.text
        for _ in range(3):  # three margin calls: down under 60 %, back up (re-armed)
            _move(api, market, "56000", below=True)
            _move(api, market, "57000", below=False)
    _log_in(page, server.url, email)
    tab = page.locator(".bk-tab", has_text="Notifications")
    # one unread entry: the three calls in one
    wait_for(lambda: tab.inner_text() == "Notifications (1)", "one unread in the title", 10)
    entry = page.locator('.alerts [data-kind="margin_call"]')
    tab.click()  # opening the panel marks them read: still marked while in view
    wait_for(lambda: entry.count() == 1, "the entry in the opened tab")
    assert entry.get_attribute("data-count") == "3"
    assert entry.get_attribute("data-unread") == "true"
    text = entry.inner_text()
    assert "Margin call: margin level 5" in text and "(×3, since" in text, text
    wait_for(lambda: tab.inner_text() == "Notifications", "the title without a count")
    assert entry.get_attribute("data-unread") == "true"
    shot(page, "dashboard-notices-unread")
    page.get_by_role("button", name="Mark read").click()
    wait_for(lambda: entry.get_attribute("data-unread") == "false", "the entry read")
    page.reload()  # the login lasts; what was seen is stored for the account
    page.get_by_role("button", name="Open long").wait_for(timeout=20_000)
    tab.click()
    wait_for(lambda: page.locator('.alerts [data-kind="margin_call"]').count() == 1, "the entry")
    assert page.locator('.alerts [data-unread="true"]').count() == 0
    shot(page, "dashboard-notices-read")
