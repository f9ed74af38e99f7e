"""Pending orders, edits and partial closes on the live dashboard, in Debian's Chromium on
a real server fed by the fake Backpack.

Each step goes through the page as a trader would (the ticket, the tables' buttons, the
edit form) and checks the page against the engine (read over REST) and the chart's
price lines against the Bokeh model in the browser. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest
from browser_helpers import ARTIFACTS, answer_to, model_js, register_in_page, rows, wait_for
from playwright.sync_api import Browser, Page
from server_helpers import Market, Server, wait_price

POSITIONS, ORDERS = ".positions-table", ".orders-table"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 1250})  # all of it in a shot
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _api(server: Server, email: str) -> httpx.Client:
    c = server.client()
    r = c.post("/auth/login", json={"email": email, "password": "correct horse 1"})
    assert r.status_code == 200, r.text
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c


def _lines(page: Page) -> dict[str, list[Any]]:
    """The chart's price lines as the browser has them: kind -> [price, ...]."""
    data = page.evaluate(model_js("price_lines", "({kind: Array.from(m.data.kind), "
                                  "y: Array.from(m.data.y)})"))  # fmt: skip
    out: dict[str, list[Any]] = {}
    for kind, y in zip(data["kind"], data["y"], strict=True):
        out.setdefault(kind, []).append(y)
    return out


def shot(page: Page, name: str) -> None:
    """The whole page (the edit form is under the tables), kept in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _fresh(market: Market, api: httpx.Client, bid: str) -> None:
    """A new quote at this bid (half a dollar spread): commands need one under 10 s old."""
    market.set("BTC_USDC", bid, str(Decimal(bid) + Decimal("0.5")))
    wait_price(api, "BTC_USDC", bid)


def _ticket(page: Page, kind: str, price: str = "", expires: str = "") -> str:
    page.get_by_role("button", name=kind, exact=True).click()
    if kind != "Market":
        page.get_by_label("Price", exact=True).fill(price)
        page.get_by_label("Expires", exact=True).fill(expires)
    name = re.compile("Open long" if kind == "Market" else f"Place long {kind.lower()}")
    return answer_to(page, "ticket", lambda: page.get_by_role("button", name=name).click())


def _open_orders(api: httpx.Client) -> list[dict[str, Any]]:
    return api.get("/trade/orders", params={"status": "open"}).json()["orders"]  # type: ignore[no-any-return]


def test_a_limit_on_the_table_and_chart_cancelled_and_one_expiring(
    server: Server, market: Market, page: Page
) -> None:
    register_in_page(page, server.url, "lim@example.com", "Lim")
    api = _api(server, "lim@example.com")

    _fresh(market, api, "60000")
    said = _ticket(page, "Limit", price="59000", expires="90")
    assert said.startswith("Placed long limit BTC_USDC at 59000.0 (margin 100.00 USD, "
                           "expires "), said  # fmt: skip
    page.get_by_text("Pending orders", exact=True).click()
    wait_for(lambda: len(rows(page, ORDERS)) == 1, "the order in the table")
    (row,) = rows(page, ORDERS)
    assert "59000.0" in row and "limit" in row and "100.00 USD" in row, row
    wait_for(lambda: _lines(page).get("pending") == [59000], "the pending line on the chart")
    low = model_js("price_chart", "m.y_range.start")
    page.get_by_role("button", name="Fit all lines").click()  # 59000 is below the candles
    wait_for(lambda: page.evaluate(low) < 59000, "the price scale to take in the order")
    shot(page, "dashboard-orders-limit")
    _fresh(market, api, "60000")
    cancel = page.locator(ORDERS).get_by_role("button", name="Cancel")
    said = answer_to(page, "ticket", cancel.click)
    assert said == "Cancelled BTC_USDC long limit at 59000.0", said
    wait_for(lambda: rows(page, ORDERS) == [], "the table to empty")
    wait_for(lambda: "pending" not in _lines(page), "the pending line to go")

    # a stop order that expires: a notification, and it leaves the table and the chart
    _fresh(market, api, "60000")
    said = _ticket(page, "Stop", price="61000", expires="2s")
    assert said.startswith("Placed long stop BTC_USDC at 61000.0"), said
    # the engine expires an order at its next input: the fake market's next quote
    time.sleep(2.1)
    _fresh(market, api, "60000")
    toast = page.locator(".notyf__toast", has_text="Order expired: BTC_USDC long stop at 61000.0")
    toast.first.wait_for(timeout=15_000)
    wait_for(lambda: rows(page, ORDERS) == [], "the expired order to leave the table")
    assert "pending" not in _lines(page)


def test_edit_an_order_see_it_fill_edit_the_position_and_close_half(
    server: Server, market: Market, page: Page
) -> None:
    register_in_page(page, server.url, "half@example.com", "Half")
    api = _api(server, "half@example.com")

    # a limit moved by the edit form: refused above the ask, then moved where it fills
    _fresh(market, api, "60000")
    assert _ticket(page, "Limit", price="59300").startswith("Placed long limit")
    page.get_by_text("Pending orders", exact=True).click()
    wait_for(lambda: len(rows(page, ORDERS)) == 1, "the order in the table")
    page.locator(ORDERS).get_by_role("button", name="Edit").click()
    price = page.get_by_label("Order price")
    wait_for(lambda: price.input_value() == "59300.0", "the order's price in the form")
    price.fill("61000")
    _fresh(market, api, "60000")
    said = answer_to(page, "edit", page.get_by_role("button", name="Save changes").click)
    assert said == ("invalid_order: a long limit's price 61000.0 must be below the ask "
                    "60000.5"), said  # fmt: skip
    price.fill("59500")
    _fresh(market, api, "60000")
    said = answer_to(page, "edit", page.get_by_role("button", name="Save changes").click)
    assert said == "Changed BTC_USDC long limit at 59300.0: price 59500.0, TP —, SL —, " \
        "trailing —, no expiry", said  # fmt: skip
    wait_for(lambda: "59500.0" in rows(page, ORDERS)[0], "the new price in the table")
    # a limit the market reaches: filled at the ask, a notification, an entry line
    wait_for(lambda: _lines(page).get("pending") == [59500], "the order's line moved")
    _fresh(market, api, "59400")
    toast = page.locator(".notyf__toast", has_text="Limit order filled: BTC_USDC long")
    toast.first.wait_for(timeout=15_000)
    assert "at 59400.5" in toast.first.inner_text()
    wait_for(lambda: rows(page, ORDERS) == [], "the filled order to leave the table")
    gone = page.locator('[data-gone="true"]')
    gone.wait_for(timeout=10_000)  # the form knows its order is no longer pending
    assert gone.inner_text().endswith("is filled, cancelled or expired")
    page.get_by_text("Open positions", exact=True).click()
    wait_for(lambda: len(rows(page, POSITIONS)) == 1, "the position")
    lines = wait_for(lambda: (ls := _lines(page)).get("entry") == [59400.5] and ls,
                     "the entry line")  # fmt: skip
    assert "pending" not in lines and len(lines["liquidation"]) == 1, lines
    (order,) = _open_orders(api)
    assert order["openingPrice"] == "59400.5", order

    # edit the stop loss and add a trailing stop: the table, the lines, the engine
    page.locator(POSITIONS).get_by_role("button", name="Edit").click()
    page.get_by_label("New stop loss").fill("58500")
    page.get_by_label("New trailing stop").fill("300")
    _fresh(market, api, "59400")
    said = answer_to(page, "edit", page.get_by_role("button", name="Save changes").click)
    assert said == "Changed BTC_USDC long: TP —, SL 58500.0, trailing 300.0", said
    wait_for(lambda: "58500.0" in rows(page, POSITIONS)[0], "the new SL in the table")
    wait_for(lambda: _lines(page).get("sl") == [58500], "the SL line")
    assert _lines(page)["trailing"] == [59100]  # 300 below the bid it started from
    _fresh(market, api, "59800")  # the trailing stop follows the bid up
    wait_for(lambda: _lines(page).get("trailing") == [59500], "the trailing line to move")
    wait_for(lambda: "300.0 → 59500.0" in rows(page, POSITIONS)[0], "the trailing level shown")
    assert _open_orders(api)[0]["stopLoss"] == "58500.0"
    # the price scale follows the prices; asked, it takes in every line down to liquidation
    liq = _lines(page)["liquidation"][0]
    low = model_js("price_chart", "m.y_range.start")
    assert page.evaluate(low) > liq
    page.get_by_role("button", name="Fit all lines").click()
    wait_for(lambda: page.evaluate(low) <= liq, "the price scale to take in every line")
    shot(page, "dashboard-orders-edited")

    # close half: the qty sent is rounded down to 8 decimals; the rest stays open
    qty = Decimal(page.locator("[data-qty]").get_attribute("data-qty") or "0")
    page.get_by_role("button", name="50 %", exact=True).click()
    half = (qty / 2).quantize(Decimal("0.00000001"), ROUND_DOWN)
    field = page.get_by_label("Quantity to close")
    wait_for(lambda: Decimal(field.input_value() or 0) == half, "half the quantity typed")
    _fresh(market, api, "59800")
    said = answer_to(page, "edit", page.get_by_role("button", name="Close part").click)
    left = qty - half
    assert said.startswith(f"Closed {half.normalize():f} of BTC_USDC long at 59800.0: P/L +"), said
    assert said.endswith(f"; {left.normalize():f} left"), said
    assert page.get_by_label("Quantity to close").input_value() == ""  # no second part by mistake
    wait_for(lambda: f"{left.normalize():f}" in rows(page, POSITIONS)[0], "the remaining qty")
    (rest,) = _open_orders(api)
    assert Decimal(rest["qty"]) == left, rest
    assert _lines(page)["entry"] == [59400.5]  # the rest keeps its entry
    shot(page, "dashboard-orders-partial")
