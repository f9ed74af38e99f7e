"""The light theme is readable: text against what is behind it, measured in Chromium.

The pages were drawn for the dark theme: the login card and the ticket kept their dark
background in the light theme (black text on it), and the profit, loss and warning
colours (#26a69a, #ef5350, #ffb74d) are too light on white. Each text checked here must
reach a contrast of 4.5:1 (WCAG AA for normal text) against its background.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import shot, wait_for
from playwright.sync_api import Browser, Page
from server_helpers import Market, Server, register, wait_price

LEAST = 4.5
#: [text, contrast, colour, background] of every element matching the selectors (shadow
#: roots included) that shows text: the background is the first opaque one behind it
CONTRAST_JS = """
(selectors) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number)
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 }
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)
  }
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement || (e.getRootNode() && e.getRootNode().host)) {
      const c = rgb(getComputedStyle(e).backgroundColor)
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3)
    }
    return [255, 255, 255]
  }
  const out = []
  const walk = (root) => {
    for (const el of root.querySelectorAll(selectors)) {
      const text = (el.innerText || el.value || el.placeholder || '').trim()
      const box = el.getBoundingClientRect()
      if (!text || box.width === 0) continue
      const fg = rgb(getComputedStyle(el).color).slice(0, 3), bg = behind(el)
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a)
      out.push([text.slice(0, 40), (hi + 0.05) / (lo + 0.05), fg.join(','), bg.join(',')])
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot)
  }
  walk(document)
  return out
}
"""


@pytest.fixture
def light(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _readable(page: Page, selectors: str, least: int = 1) -> list[Any]:
    seen: list[Any] = page.evaluate(CONTRAST_JS, selectors)
    assert len(seen) >= least, f"only {len(seen)} texts for {selectors!r}: {seen}"
    poor = [s for s in seen if s[1] < LEAST]
    assert not poor, f"texts under {LEAST}:1 in the light theme: {poor}"
    return seen


def test_light_theme_login_card_account_tables_and_messages_are_readable(
    server: Server, market: Market, light: Page
) -> None:
    light.goto(server.url + "/dashboard?theme=default")
    light.get_by_role("button", name="Log in").click()  # an empty form: a refusal shown
    light.locator("[data-error=login]").wait_for(timeout=15_000)
    _readable(light, "h2, p, label, [data-error=login]", least=4)
    shot(light, "light-login")

    with server.client() as c:
        token = register(c, "light@example.com")
        market.set("BTC_USDC", "60000", "60000.5")
        wait_price(c, "BTC_USDC", "60000")
    light.context.add_cookies([{"name": "token", "value": token, "url": server.url}])
    light.goto(server.url + "/dashboard?theme=default")
    light.get_by_role("button", name="Open long").click()
    light.get_by_text(re.compile("^Opened long")).wait_for(timeout=15_000)
    market.set("BTC_USDC", "59000", "59000.5")  # a loss: red figures
    wait_for(lambda: light.locator(".account-strip .loss").count(), "a loss in the strip")
    _readable(light, ".account-strip .value", least=6)
    _readable(light, "label, .ticket-msg-ok, .ticket-msg-error, .quote-box span", least=6)
    wait_for(lambda: light.locator(".positions-table .tabulator-cell").count(), "a position")
    wait_for(lambda: light.locator("[data-sign]").count(), "a coloured figure in a table")
    # every table, and what is inside a cell (a coloured figure is a span)
    _readable(light, ".tabulator-cell, .tabulator-cell *, .tabulator-col-title", least=10)
    light.get_by_text("Notifications", exact=True).first.click()
    # the tab is drawn once opened, and laid out a moment later
    wait_for(lambda: light.evaluate(CONTRAST_JS, ".alerts, .alerts *"), "the notifications shown")
    _readable(light, ".alerts, .alerts *")
    shot(light, "light-live")
