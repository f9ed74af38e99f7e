"""The order ticket never guesses, in Debian's Chromium on a real server (fake Backpack).

What cannot be used is refused as it is typed and again on Open, in plain words, and
nothing reaches the engine (its command count and the account's orders stay as they
were). Before sending, the ticket shows the engine's preview; the order then fills with
exactly those figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from browser_helpers import answer_to, register_in_page, shot, wait_for
from playwright.sync_api import Browser, Page
from server_helpers import Market, Server, wait_price

PREVIEW = "[data-preview]"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    yield ctx.new_page()
    ctx.close()


def _api(server: Server, email: str) -> httpx.Client:
    c = server.client()
    r = c.post("/auth/login", json={"email": email, "password": "correct horse 1"})
    assert r.status_code == 200, r.text
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c


def _fresh(market: Market, api: httpx.Client) -> None:
    """A fresh quote (commands need one under 10 s old), the same prices every time."""
    market.set("BTC_USDC", "60000", "60000.5")
    wait_price(api, "BTC_USDC", "60000")


def _type(page: Page, label: str, text: str) -> None:
    """Type into a field as a person does (no Enter): the ticket checks every key."""
    box = page.get_by_label(label, exact=True)
    box.fill("")
    if text:
        box.press_sequentially(text)


def _check(page: Page) -> str:
    return page.locator(PREVIEW).first.inner_text().strip() if page.locator(PREVIEW).count() else ""


def _commands(api: httpx.Client) -> int:
    return int(api.get("/health").json()["engine"]["commands"])


def _orders(api: httpx.Client) -> list[dict[str, Any]]:
    return [o for status in ("open", "closed") for o in
            api.get("/trade/orders", params={"status": status}).json()["orders"]]  # fmt: skip


BAD = [  # (field, typed, what the ticket says, as you type and on Open)
    ("Leverage", "0", "leverage 0 is outside 1..100 for BTC_USDC"),
    ("Leverage", "ten", "leverage 'ten' is not a number"),
    ("Leverage", "", "leverage is empty"),
    ("Leverage", "101", "leverage 101 is outside 1..100 for BTC_USDC"),
    ("Margin (USD)", "", "margin is empty"),
    ("Margin (USD)", "1O0", "margin '1O0' is not a number"),
    ("Margin (USD)", "-5", "the order size must be positive"),
    ("Margin (USD)", "900000", "free margin 5000.00 USD is less than"),
    ("Take profit", "59000", "a long's take_profit 59000.0 must be above the bid 60000.0"),
]


def test_each_bad_input_is_refused_in_plain_words_and_nothing_is_sent(
    server: Server, market: Market, page: Page
) -> None:
    register_in_page(page, server.url, "never@example.com", "Never")
    api = _api(server, "never@example.com")
    _fresh(market, api)
    commands = _commands(api)
    for field, typed, message in BAD:
        _type(page, "Margin (USD)", "100")
        _type(page, "Leverage", "10")
        _type(page, "Take profit", "")
        _type(page, field, typed)
        wait_for(lambda m=message: m in _check(page), f"{field} {typed!r}: {message}")  # type: ignore[misc]
        _fresh(market, api)
        said = answer_to(
            page, "ticket", lambda: page.get_by_role("button", name="Open long").click()
        )
        assert message in said, (field, typed, said)
    shot(page, "dashboard-ticket-refused")
    assert _orders(api) == []
    assert _commands(api) == commands, "a refused order reached the engine"

    # 2.5 is a leverage: the order opens at 2.5x (not at the 10 or the 101 typed before)
    _fresh(market, api)
    _type(page, "Take profit", "")
    _type(page, "Margin (USD)", "100")
    _type(page, "Leverage", "2.5")
    wait_for(lambda: "fills at" in _check(page), "the preview at 2.5x")
    said = answer_to(page, "ticket", lambda: page.get_by_role("button", name="Open long").click())
    assert said.startswith("Opened long"), said
    (order,) = _orders(api)
    assert (order["leverage"], order["margin"]) == ("2.5", "100")


def test_the_preview_is_what_the_engine_fills(server: Server, market: Market, page: Page) -> None:
    register_in_page(page, server.url, "preview@example.com", "Preview")
    api = _api(server, "preview@example.com")
    _fresh(market, api)
    _type(page, "Margin (USD)", "250")
    _type(page, "Leverage", "20")
    ok = page.locator('[data-preview="ok"][data-pv-margin="250"]')
    wait_for(ok.count, "the preview of 250 USD at 20x")
    keys = ("price", "qty", "margin", "fee", "free-margin-after", "liquidation-price")
    shown = {k: ok.first.get_attribute(f"data-pv-{k}") for k in keys}
    text = ok.first.inner_text()
    shot(page, "dashboard-ticket-preview")
    _fresh(market, api)  # the same prices: the order fills as previewed
    said = answer_to(page, "ticket", lambda: page.get_by_role("button", name="Open long").click())
    assert said.startswith("Opened long"), said
    (order,) = _orders(api)
    filled = {"price": order["openingPrice"], "qty": order["qty"], "margin": order["margin"],
              "fee": order["fee"], "liquidation-price": order["liquidationPrice"]}  # fmt: skip
    assert {k: v for k, v in shown.items() if k in filled} == filled
    free = Decimal(api.get("/balance").json()["free_margin"])
    assert Decimal(shown["free-margin-after"] or "") == free
    assert f"{free.quantize(Decimal('0.01'), ROUND_HALF_UP):,} USD" in text  # to the cent
