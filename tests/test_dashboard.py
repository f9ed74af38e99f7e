"""The live dashboard in Debian's Chromium, on a real server fed by the fake Backpack.

Every flow goes through the page as a person would (the form, the ticket, the Close
button) and checks what the page shows against what the engine did (read over REST).
Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from browser_helpers import (
    answers,
    click_table_button,
    figure,
    register_in_page,
    rows,
    shot,
    wait_for,
)
from playwright.sync_api import Browser, Page
from server_helpers import Market, Server, wait_price

POSITIONS = ".positions-table"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _api_login(server: Server, email: str) -> httpx.Client:
    c = server.client()
    r = c.post("/auth/login", json={"email": email, "password": "correct horse 1"})
    assert r.status_code == 200, r.text
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c


def _fresh(server: Server, market: Market) -> None:
    """A new quote: an order needs one under 10 s old, and a page's login takes a while."""
    with server.client() as c:
        market.set("BTC_USDC", "60000", "60000.5")
        wait_price(c, "BTC_USDC", "60000")


def _open_from_ticket(page: Page, margin: str = "100", leverage: str = "10") -> str:
    page.get_by_label("Margin (USD)").fill(margin)
    page.get_by_label("Leverage").fill(leverage)
    page.get_by_label("Leverage").press("Enter")
    before = (
        page.locator("[data-n]").get_attribute("data-n")
        if page.locator("[data-n]").count()
        else "0"
    )
    page.get_by_role("button", name="Open long").click()
    msg = page.locator(f'[data-n="{int(before or 0) + 1}"]')
    msg.wait_for(timeout=15_000)
    return msg.inner_text()


def test_register_trade_watch_and_close(server: Server, market: Market, page: Page) -> None:
    register_in_page(page, server.url, "ann@example.com", "Ann")
    wait_for(lambda: figure(page, "balance") == "5,000.00", "the demo balance")
    _fresh(server, market)
    said = _open_from_ticket(page)
    assert said.startswith("Opened long"), said
    wait_for(lambda: len(rows(page, POSITIONS)) == 1, "the position in the table")
    api = _api_login(server, "ann@example.com")
    (order,) = api.get("/trade/orders", params={"status": "open"}).json()["orders"]
    assert order["openingPrice"] == "60000.5" and order["margin"] == "100"
    row = rows(page, POSITIONS)[0]
    assert order["id"][:8] in row and "BTC_USDC" in row and "long" in row, row

    # the feed moves: the uPnL shown moves with it, to the cent of the engine's figure
    market.set("BTC_USDC", "61000", "61000.5")
    wait_price(api, "BTC_USDC", "61000")
    upnl = Decimal(api.get("/trade/orders", params={"status": "open"}).json()["orders"][0]["upnl"])
    assert upnl > 0
    want = f"+{upnl.quantize(Decimal('0.01')):,.2f}"
    wait_for(lambda: want in rows(page, POSITIONS)[0], f"uPnL {want} in the table")
    wait_for(lambda: figure(page, "open_p/l") == want, "the open P/L figure")
    shot(page, "dashboard-live-position")

    click_table_button(page.locator(POSITIONS).get_by_role("button", name="Close"),
                       answers(page, "ticket"),
                       lambda: rows(page, POSITIONS) == [], "the table to empty")  # fmt: skip
    closed = api.get("/trade/orders", params={"status": "closed"}).json()["orders"][0]
    balance = Decimal(api.get("/balance").json()["balance"])
    assert balance == Decimal(5000) + Decimal(closed["pnl"]) - Decimal(closed["fee"])
    shown = f"{balance.quantize(Decimal('0.01')):,.2f}"
    wait_for(lambda: figure(page, "balance") == shown, f"balance {shown}")
    page.get_by_text("Order history", exact=True).click()
    wait_for(lambda: len(rows(page, ".history-table")) == 1, "the closed order in history")
    shot(page, "dashboard-live-closed")


def test_rejected_order_shows_the_engine_reason(server: Server, market: Market,
                                                page: Page) -> None:  # fmt: skip
    register_in_page(page, server.url, "bo@example.com", "Bo")
    _fresh(server, market)
    said = _open_from_ticket(page, margin="100000")
    assert "insufficient_margin" in said and "free margin 5000.00 USD" in said, said
    said = _open_from_ticket(page, margin="100", leverage="1000")
    assert "invalid_order" in said and "leverage 1000 is outside" in said, said
    assert rows(page, POSITIONS) == []
    shot(page, "dashboard-rejected")


def test_liquidation_raises_a_notification(server: Server, market: Market, page: Page) -> None:
    register_in_page(page, server.url, "cy@example.com", "Cy")
    _fresh(server, market)
    assert _open_from_ticket(page, margin="100", leverage="100").startswith("Opened long")
    wait_for(lambda: len(rows(page, POSITIONS)) == 1, "the position")
    market.set("BTC_USDC", "58000", "58000.5")  # -3.3 % at 100x: far past the margin
    toast = page.locator(".notyf__toast", has_text=re.compile("Liquidated: BTC_USDC long at 58000"))
    toast.first.wait_for(timeout=15_000)
    wait_for(lambda: rows(page, POSITIONS) == [], "the liquidated position to go")
    shot(page, "dashboard-liquidation")
    page.locator(".bk-tab", has_text="Notifications").click()  # "Notifications (1)": unread
    entry = page.locator(".alerts .a-error .a-text")  # the tab is drawn once opened
    wait_for(lambda: entry.count() > 0 and entry.first.inner_text() != "", "the entry")
    listed = entry.first.inner_text()
    assert listed.startswith("Liquidated: BTC_USDC long at 58000") and "P/L -100.00" in listed


def test_two_users_never_see_each_other(server: Server, market: Market, browser: Browser) -> None:
    pages = []
    for email, name in (("dee@example.com", "Dee"), ("eve@example.com", "Eve")):
        ctx = browser.new_context(viewport={"width": 1440, "height": 900})
        pg = ctx.new_page()
        register_in_page(pg, server.url, email, name)
        pages.append(pg)
    dee, eve = pages
    _fresh(server, market)
    assert _open_from_ticket(dee, margin="250").startswith("Opened long")
    wait_for(lambda: len(rows(dee, POSITIONS)) == 1, "Dee's position")
    wait_for(lambda: figure(dee, "used_margin") == "250.00", "Dee's used margin")
    # Eve's page keeps getting pushes (prices) but never Dee's account
    eve_quotes = eve.locator("[data-bid]")
    eve_quotes.wait_for(timeout=10_000)
    assert rows(eve, POSITIONS) == []
    assert figure(eve, "used_margin") == "0.00" and figure(eve, "balance") == "5,000.00"
    assert "Dee" not in eve.content()
    shot(eve, "dashboard-other-user")
    for pg in pages:
        pg.context.close()
