"""No request leaves the server: the dashboards in Debian's Chromium ask nothing of any
other host (Panel's Fast design linked Google Fonts on every load), and log no errors.

Every request the browser makes is routed through the test: one to a host other than
the server's is aborted and recorded, and so is a WebSocket to one, and an element that
links to one (the page's Content-Security-Policy blocks such a link before it is asked,
with an error in the console, which fails the test too). The run covers the
login page, a login through its form, the live page in both themes and the replay page
playing a tape.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from browser_helpers import shot, wait_for
from playwright.sync_api import Browser, ConsoleMessage, Page, Route
from server_helpers import Server, register

VIEWPORT = {"width": 1440, "height": 900}
#: every address the page's elements load from (stylesheets, scripts, images, frames;
#: shadow roots included; a link a person may follow is no request): the page's
#: Content-Security-Policy blocks a foreign one before it is asked, so it is looked for too
LINKS_JS = """
() => {
  const out = []
  const walk = (root) => {
    const loads = 'link[href], script[src], img[src], iframe[src], source[src], embed[src]'
    for (const el of root.querySelectorAll(loads)) out.push(el.href || el.src)
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot)
  }
  walk(document)
  return out.filter(u => typeof u === 'string' && u)
}
"""


class Watch:
    """What a page asked of other hosts, and the errors it logged."""

    def __init__(self, page: Page, server: Server) -> None:
        self.host = urlsplit(server.url).netloc
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.asked = 0
        page.route("**/*", self._route)
        page.on("websocket", lambda ws: self._check(ws.url))
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _check(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == self.host:
            return True
        self.foreign.append(url)
        return False

    def _route(self, route: Route) -> None:
        self.asked += 1
        if self._check(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def scan(self, page: Page) -> None:
        """The addresses the page's elements link to (stylesheets, scripts, images)."""
        for url in page.evaluate(LINKS_JS):
            self._check(url)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" or "deprecat" in msg.text.lower():  # e.g. Choices' allowHTML
            self.errors.append(f"console: {msg.text}")


def test_pages_ask_no_other_host_and_log_no_errors(server: Server, browser: Browser) -> None:
    with server.client() as c:
        register(c, "offline@example.com")
    ctx = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = ctx.new_page()
    watch = Watch(page, server)
    try:
        page.goto(server.url + "/dashboard")
        page.get_by_placeholder("you@example.com").fill("offline@example.com")
        page.locator("input[type=password]").fill("correct horse 1")
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name=re.compile("Open (long|short)")).wait_for(timeout=20_000)
        page.wait_for_selector("html[data-wb-login=kept]", state="attached", timeout=15_000)
        page.locator("[data-bid]").first.wait_for(timeout=15_000)  # the live page is live
        watch.scan(page)

        page.goto(server.url + "/dashboard?theme=default")  # the light theme's own styles
        page.get_by_role("button", name=re.compile("Open (long|short)")).wait_for(timeout=20_000)
        watch.scan(page)

        page.goto(server.url + "/dashboard/replay")
        load = page.get_by_role("button", name="Load")
        wait_for(lambda: page.get_by_text("then Load", exact=False).count()
                 or page.get_by_text("simulated market is", exact=False).count(),
                 "the replay page to list the tick store")  # fmt: skip
        load.click()
        page.locator(".replay-said", has_text="loaded").wait_for(timeout=20_000)
        page.get_by_role("button", name="Play").click()
        page.locator("[data-pos]").first.wait_for(timeout=15_000)  # it plays
        watch.scan(page)
        shot(page, "offline-replay")
    finally:
        ctx.close()
    assert watch.asked > 20, watch.asked  # the routing saw the pages' requests
    assert watch.foreign == [], f"requests to other hosts: {watch.foreign}"
    assert watch.errors == [], "\n".join(watch.errors)
