"""A broker's basics on the live page, in Debian's Chromium on a real server: deposit,
close all and reset (each confirmed first), the order history as CSV, the watchlist;
and a closed position leaves no console error and no highlighted row behind."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

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
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _api(server: Server, email: str) -> httpx.Client:
    c = server.client()
    r = c.post("/auth/login", json={"email": email, "password": "correct horse 1"})
    assert r.status_code == 200, r.text
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c


def _open(api: httpx.Client, market: Market, n: int) -> list[str]:
    market.set("BTC_USDC", "60000", "60000.5")
    wait_price(api, "BTC_USDC", "60000")
    ids = []
    for _ in range(n):
        r = api.post("/trade/create", json={"asset": "BTC", "side": "long", "leverage": "10",
                                            "margin": "100"})  # fmt: skip
        assert r.status_code == 201, r.text
        ids.append(r.json()["orderId"])
    return ids


def _said(page: Page, n: int) -> str:
    msg = page.locator(f'[data-box="broker"][data-n="{n}"]')
    msg.wait_for(timeout=15_000)
    return msg.inner_text()


def test_deposit_close_all_and_reset_are_confirmed(
    server: Server, market: Market, page: Page
) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    register_in_page(page, server.url, "broker@example.com", "Bea")
    wait_for(lambda: figure(page, "balance") == "5,000.00", "the demo balance")
    api = _api(server, "broker@example.com")
    market.set("BTC_USDC", "60000", "60000.5")  # a fresh quote: the ticket's preview works
    wait_price(api, "BTC_USDC", "60000")
    amount = page.get_by_label("Deposit (USD)")
    deposit = page.get_by_role("button", name="Deposit", exact=True)
    amount.fill("ten")
    deposit.click()
    assert _said(page, 1) == "deposit amount 'ten' is not a number"
    amount.fill("-5")
    deposit.click()
    assert _said(page, 2) == "invalid_amount: a deposit must be positive, not -5"
    amount.fill("1000")
    deposit.click()
    assert _said(page, 3) == "Deposited 1,000.00 USD: balance 6,000.00 USD"
    wait_for(lambda: figure(page, "balance") == "6,000.00", "the balance after the deposit")
    assert amount.input_value() == ""
    free_after = page.locator("[data-pv-free-margin-after]").first  # the ticket follows
    wait_for(
        lambda: (free_after.get_attribute("data-pv-free-margin-after") or "").startswith("5899.99"),
        "the preview's free margin after the deposit",
    )  # was 4899.99...

    _open(api, market, 3)
    wait_for(lambda: len(rows(page, POSITIONS)) == 3, "three positions")
    # one closed with its own button: the rows left behind are not highlighted, no error
    close = page.locator(POSITIONS).get_by_role("button", name="Close").first
    answered = answers(page, "ticket")
    click_table_button(close, answered, lambda: len(rows(page, POSITIONS)) == 2,
                       "two positions left")  # fmt: skip
    page.mouse.move(5, 5)  # the pointer off the table: no hover either
    page.wait_for_timeout(300)
    assert page.locator(f"{POSITIONS} .tabulator-selected").count() == 0
    close_all = page.get_by_role("button", name="Close all")
    close_all.click()
    confirm = page.locator('[data-confirm="close_all"]')
    assert confirm.inner_text() == "Close all 2 open positions at the current prices?"
    page.get_by_role("button", name="Cancel", exact=True).click()
    wait_for(lambda: not confirm.is_visible(), "the question gone")
    assert len(rows(page, POSITIONS)) == 2
    assert len(api.get("/trade/orders", params={"status": "open"}).json()["orders"]) == 2
    close_all.click()
    page.get_by_role("button", name="Yes, close all").click()
    said = _said(page, 4)
    assert said.startswith("Closed 2 positions, P/L -"), said  # the spread: a loss, red
    assert page.locator('[data-box="broker"] .loss[data-pnl]').count() == 1
    wait_for(lambda: rows(page, POSITIONS) == [], "every position closed")
    assert api.get("/trade/orders", params={"status": "open"}).json()["orders"] == []
    shot(page, "dashboard-close-all")

    _open(api, market, 1)
    wait_for(lambda: len(rows(page, POSITIONS)) == 1, "a position to reset away")
    page.get_by_role("button", name="Reset account").click()
    page.locator('[data-confirm="reset"]').wait_for(timeout=10_000)
    page.get_by_role("button", name="Yes, reset").click()
    assert _said(page, 5) == "Account reset: 1 position closed, balance 5,000.00 USD"
    wait_for(lambda: figure(page, "balance") == "5,000.00", "the demo balance again")
    wait_for(lambda: rows(page, POSITIONS) == [], "the position gone")
    assert api.get("/balance").json()["balance"] == "5000"
    assert not [m for m in console if "No matching row" in m or "allowHTML" in m], console
    shot(page, "dashboard-reset")


def test_csv_export_and_the_watchlist(server: Server, market: Market, page: Page) -> None:
    register_in_page(page, server.url, "csv@example.com", "Cas")
    api = _api(server, "csv@example.com")
    (ref,) = _open(api, market, 1)
    assert api.post(f"/trade/close/{ref}").status_code == 200
    wait_for(lambda: figure(page, "balance") != "5,000.00", "the close on the page")
    with page.expect_download() as got:
        page.get_by_role("button", name="Export CSV").click()
    text = got.value.path().read_text()
    assert got.value.suggested_filename.startswith("orders-")
    (order,) = api.get("/trade/orders", params={"status": "closed"}).json()["orders"]
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert (row["id"], row["pnl"], row["open price"]) == (
        order["id"], order["pnl"], order["openingPrice"])  # fmt: skip

    market.set("ETH_USDC", "2574.9", "2575")
    watch = ".watchlist-table"
    eth = ["ETH_USDC", "2574.90", "2575.00"]  # to its tick
    wait_for(lambda: [r for r in rows(page, watch) if r[-5:-2] == eth], "ETH in the watchlist")
    page.locator(watch).get_by_text("ETH_USDC").click()
    wait_for(lambda: page.locator("select").first.input_value() == "ETH_USDC", "ETH charted")
    wait_for(lambda: page.locator("[data-bid]").first.inner_text() == "2574.90", "ETH's quote")
    shot(page, "dashboard-watchlist")
