"""A dashboard page outlives its server, in Debian's Chromium: when the server stops, the
page says at once that it is disconnected and its prices stale, and trades nothing; when
the server is back (same data directory, same port) the page reloads by itself, still
logged in, and trades again."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from browser_helpers import chromium, register_in_page, shot, wait_for
from playwright.sync_api import Page
from server_helpers import start_server

CONNECTION = "document.documentElement.dataset.wbConnection"


def _connection(page: Page) -> str | None:
    try:
        return page.evaluate(CONNECTION)  # type: ignore[no-any-return]
    except Exception:  # the page is reloading
        return None


def test_the_page_goes_stale_then_comes_back_logged_in(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    port = urlparse(srv.url).port
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        register_in_page(page, srv.url, "back@example.com", "Back")
        page.wait_for_selector("html[data-wb-login=kept]", state="attached", timeout=15_000)
        assert _connection(page) == "up"
        open_long = page.get_by_role("button", name="Open long")
        assert open_long.is_enabled()

        assert srv.stop() == 0
        wait_for(lambda: _connection(page) == "lost", "the page to see the server gone")
        banner = page.locator("#wb-offline")
        assert banner.inner_text().startswith("Disconnected — prices stale")
        assert open_long.is_disabled()
        badge = page.locator(".feed-badge")
        wait_for(lambda: badge.first.get_attribute("data-state") == "DISCONNECTED", "the badge")
        shot(page, "dashboard-reconnect-stale")

        srv = start_server(data, port=port)  # the same place: the page finds it again
        try:
            wait_for(lambda: _connection(page) == "up", "the page to reload", timeout=30)
            assert page.locator("#wb-offline").count() == 0
            page.get_by_role("button", name="Open long").wait_for(timeout=20_000)  # logged in
            assert page.get_by_role("button", name="Log in").count() == 0
            wait_for(page.get_by_role("button", name="Open long").is_enabled, "trading again")
            said = page.locator('[data-box="ticket"][data-n="1"]')
            page.get_by_role("button", name="Open long").click()
            said.wait_for(timeout=15_000)
            assert said.inner_text().startswith("Opened long"), said.inner_text()
            shot(page, "dashboard-reconnect-back")
        finally:
            assert srv.stop() == 0
