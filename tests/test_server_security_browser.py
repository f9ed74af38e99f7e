"""Cross-site request forgery in a real headless Chromium: a page served from another port
of 127.0.0.1 (another origin, but the same *site*, so `SameSite=Lax` lets the victim's
`token` cookie through) auto-submits forms and fires `fetch()` at the API. Nothing changes;
the server's own pages still can."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_helpers import chromium
from playwright.sync_api import Page
from server_helpers import Market, Server, bearer, register, wait_price


class Attacker:
    """A tiny web server on its own port serving the pages put in `pages`."""

    def __init__(self) -> None:
        pages: dict[str, str] = {}
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = pages.get(self.path, "not here").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def form(self, name: str, action: str, method: str = "POST") -> str:
        """A page that submits an empty form to `action` as soon as it loads."""
        self.pages[f"/{name}"] = (f'<!doctype html><form method="{method}" action="{action}">'
                                  "</form><script>document.forms[0].submit()</script>")  # fmt: skip
        return f"{self.url}/{name}"

    def fetch(self, name: str, target: str, body: str = "undefined") -> str:
        """A page that POSTs to `target` with the browser's cookies; its title says "sent"."""
        self.pages[f"/{name}"] = (
            "<!doctype html><script>"
            f"fetch({json.dumps(target)}, {{method: 'POST', mode: 'no-cors', "
            f"credentials: 'include', body: {body}}})"
            ".then(() => document.title = 'sent', e => document.title = 'failed ' + e);"
            "</script>"
        )
        return f"{self.url}/{name}"


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    a = Attacker()
    yield a
    a.httpd.shutdown()


def _submit(page: Page, url: str, lands_on: str) -> str:
    """Open the attacking page; the text of the page its form lands on (URL `lands_on`...)."""
    page.goto(url)
    page.wait_for_url(re.compile(re.escape(lands_on) + r"\??$"), timeout=20_000)
    page.wait_for_load_state()
    return page.inner_text("body")


def test_a_foreign_page_cannot_act_with_the_victims_cookie(
    server: Server, market: Market, attacker: Attacker
) -> None:
    api = server.client()
    token = register(api, "victim@example.com")
    auth = bearer(token)
    api.cookies.clear()
    market.set("BTC_USDC", "60000", "60000.5")
    wait_price(api, "BTC_USDC", "60000")
    assert api.post("/balance/deposit", json={"amount": "250"}, headers=auth).status_code == 200
    order = {"asset": "BTC", "side": "long", "qty": "0.001", "leverage": "2"}
    oid = api.post("/trade/create", json=order, headers=auth).json()["orderId"]

    def balance() -> str:
        return str(api.get("/balance", headers=auth).json()["balance"])

    def still_open() -> bool:
        status = api.get(f"/trade/orders/{oid}", headers=auth).json()["order"]["status"]
        return bool(status == "open")

    before = balance()
    with chromium() as browser:
        ctx = browser.new_context()
        ctx.add_cookies([{"name": "token", "value": token, "url": server.url,
                          "httpOnly": True, "sameSite": "Lax"}])  # fmt: skip
        page = ctx.new_page()
        # control: the browser does send the cookie from the foreign page (same site)
        me = _submit(page, attacker.form("me", f"{server.url}/auth/me", "GET"),
                     f"{server.url}/auth/me")  # fmt: skip
        assert "victim@example.com" in me
        # an auto-submitting empty form, as in the report: refused, nothing reset
        text = _submit(page, attacker.form("reset", f"{server.url}/balance/reset"),
                       f"{server.url}/balance/reset")  # fmt: skip
        assert balance() == before, "the foreign page reset the account"
        assert "cross_origin" in text
        market.set("BTC_USDC", "60001", "60001.5")  # a fresh price: a close would go through
        wait_price(api, "BTC_USDC", "60001")
        _submit(page, attacker.form("close", f"{server.url}/trade/close/{oid}"),
                f"{server.url}/trade/close/{oid}")  # fmt: skip
        assert still_open(), "the foreign page closed the order"
        for path in ("/auth/logout", f"/trades/{oid}/close"):
            _submit(page, attacker.form(path.replace("/", "-"), server.url + path),
                    server.url + path)  # fmt: skip
        assert api.get("/auth/me", headers=auth).status_code == 200  # not logged out
        # fetch() with the cookie: an empty POST, and JSON with no content type (which
        # FastAPI's strict content type refuses as well)
        page.goto(attacker.fetch("fetch-reset", f"{server.url}/balance/reset"))
        page.wait_for_function("document.title === 'sent'", timeout=20_000)
        blob = f"new Blob([{json.dumps(json.dumps({'amount': '1000'}))}])"
        page.goto(attacker.fetch("fetch-deposit", f"{server.url}/balance/deposit", blob))
        page.wait_for_function("document.title === 'sent'", timeout=20_000)
        assert balance() == before and still_open()
        # the server's own pages (same origin) still work with the cookie
        page.goto(f"{server.url}/health")
        status = page.evaluate(
            """async () => (await fetch('/balance/deposit', {method: 'POST',
                 headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({amount: '1'})})).status"""
        )
        assert status == 200
        assert balance() != before
        ctx.close()
    api.close()
