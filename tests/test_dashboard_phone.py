"""Both dashboards on a phone (390x844, a mobile browser) in Debian's Chromium.

A mobile browser lays a page without a viewport meta tag out 980 px wide and shrinks
it; Panel's rows of fixed-width parts made the live page at least 850 px wide. Here the
page must fit the screen (no horizontal scroll of the page: a wide table scrolls in its
own box), be one column, keep every button and input at least 32 px high (the tables'
Close and Edit buttons too), and trade. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import register_in_page, rows, shot, wait_for
from playwright.sync_api import Browser, Page
from server_helpers import Market, Server, wait_price

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
TOUCH_PX = 32
POSITIONS = ".positions-table"

#: visible buttons and inputs of the page, shadow roots included; a checkbox is measured
#: by its label (what a finger taps)
CONTROLS_JS = """
() => {
  const out = []
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot)
      const tag = el.tagName.toLowerCase()
      if (!['button', 'input', 'select', 'textarea'].includes(tag)) continue
      if (tag === 'input' && el.type === 'hidden') continue
      let box = el.getBoundingClientRect()
      const style = getComputedStyle(el)
      if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue
      if (tag === 'input' && (el.type === 'checkbox' || el.type === 'radio') && el.closest('label'))
        box = el.closest('label').getBoundingClientRect()
      const label = (el.innerText || el.value || el.placeholder || el.type || '').trim()
      out.push({tag, label: label.slice(0, 30), w: box.width, h: box.height,
                x: box.left, right: box.right})
    }
  }
  walk(document)
  return out
}
"""
#: how far the page scrolls sideways: the document and the template's main box
OVERFLOW_JS = """
() => {
  const main = document.querySelector('#main')
  return {page: document.scrollingElement.scrollWidth, view: window.innerWidth,
          main: main ? main.scrollWidth - main.clientWidth : 0}
}
"""
#: the box of the first element matching a selector, shadow roots included
BOX_JS = """
(sel) => {
  const find = (root) => {
    const hit = root.querySelector(sel)
    if (hit) return hit
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f }
    }
    return null
  }
  const el = find(document)
  if (!el) return null
  const r = el.getBoundingClientRect()
  return {x: r.left, y: r.top, w: r.width, h: r.height}
}
"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(**PHONE)  # type: ignore[arg-type]
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _fits(page: Page) -> dict[str, Any]:
    seen: dict[str, Any] = page.evaluate(OVERFLOW_JS)
    assert seen["view"] == 390, f"the phone lays the page out {seen['view']} px wide"
    assert seen["page"] <= 390 and seen["main"] <= 0, f"the page scrolls sideways: {seen}"
    return seen


def _touch_sized(page: Page) -> list[dict[str, Any]]:
    controls: list[dict[str, Any]] = page.evaluate(CONTROLS_JS)
    small = [c for c in controls if c["h"] < TOUCH_PX - 0.5]
    assert not small, f"controls under {TOUCH_PX} px high: {small}"
    outside = [c for c in controls if c["x"] < -0.5 or c["right"] > 390.5]
    assert not outside, f"controls off the screen: {outside}"
    return controls


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.evaluate(BOX_JS, selector)
    assert box is not None, f"no {selector} on the page"
    return box  # type: ignore[no-any-return]


def test_live_page_on_a_phone_is_one_column_touch_sized_and_trades(
    server: Server, market: Market, phone: Page
) -> None:
    register_in_page(phone, server.url, "phone@example.com", "Pia")
    with server.client() as c:
        market.set("BTC_USDC", "60000", "60000.5")
        wait_price(c, "BTC_USDC", "60000")
    phone.get_by_role("button", name="Open long").tap()
    wait_for(lambda: len(rows(phone, POSITIONS)) == 1, "the position in the table")
    _fits(phone)
    controls = _touch_sized(phone)
    labels = [c["label"] for c in controls]
    assert "Close" in labels and "Edit" in labels, labels  # the table's buttons were measured
    # one column: account strip, then the chart, then the ticket, each the screen's width
    strip, chart = _box(phone, ".account-strip"), _box(phone, ".bk-Canvas")
    ticket = phone.get_by_role("button", name="Open long").bounding_box()
    assert ticket is not None
    assert strip["y"] + strip["h"] <= chart["y"] + 1, (strip, chart)
    assert chart["y"] + chart["h"] <= ticket["y"], (chart, ticket)
    assert chart["w"] >= 330 and ticket["width"] >= 330, (chart, ticket)
    shot(phone, "phone-live-position")

    phone.locator(POSITIONS).get_by_role("button", name="Close").tap()
    wait_for(lambda: rows(phone, POSITIONS) == [], "the position to close")
    _fits(phone)


def test_replay_page_on_a_phone_fits_and_is_touch_sized(server: Server, phone: Page) -> None:
    phone.goto(server.url + "/dashboard/replay")
    wait_for(lambda: phone.get_by_text("then Load", exact=False).count()
             or phone.get_by_text("simulated market is", exact=False).count(),
             "the replay page to list the tick store")  # fmt: skip
    phone.get_by_role("button", name="Load").tap()
    phone.locator(".replay-said", has_text="loaded").wait_for(timeout=20_000)
    _fits(phone)
    _touch_sized(phone)
    play = phone.get_by_role("button", name="Play").bounding_box()
    chart = _box(phone, ".bk-Canvas")
    assert play is not None and play["x"] + play["width"] <= 390, play
    assert chart["w"] >= 330, chart
    # the account strip is styled (a row of figures that wraps), not a list of lines: the
    # page's design once dropped the stylesheet of the replay's plain Bokeh texts
    first, second = phone.locator(".account-strip .fig").all()[:2]
    a, b = first.bounding_box(), second.bounding_box()
    assert a is not None and b is not None and abs(a["y"] - b["y"]) < 1, (a, b)
    shot(phone, "phone-replay")
