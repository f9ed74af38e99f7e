"""The dashboard's login lasts and ends everywhere, in Debian's Chromium on a real server.

One login for the pages and the API: a login in the page becomes the API's HttpOnly
`token` cookie, so a reload and the light/dark switch keep it; Log out revokes the
token, clears the cookie and closes the token's /ws sockets, in this tab and the others.
The page's Bokeh session token never carries the JWT (Panel copied every cookie into it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from bokeh.util.token import get_token_payload
from browser_helpers import register_in_page, shot, wait_for
from playwright.sync_api import Browser, BrowserContext, Page
from server_helpers import Server, register
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

SESSION_TOKEN = re.compile(r'"token":\s*"([^"]+)"')
PASSWORD = "correct horse 1"


@pytest.fixture
def ctx(browser: Browser) -> Iterator[BrowserContext]:
    c = browser.new_context(viewport={"width": 1440, "height": 900})
    yield c
    c.close()


def _cookie(ctx: BrowserContext, name: str = "token") -> dict[str, Any] | None:
    return next((c for c in ctx.cookies() if c["name"] == name), None)  # type: ignore[misc]


def _trading(page: Page) -> None:
    page.get_by_role("button", name="Open long").wait_for(timeout=20_000)
    assert page.get_by_role("button", name="Log in").count() == 0


def _login_form(page: Page) -> None:
    page.get_by_role("button", name="Log in").wait_for(timeout=20_000)
    assert page.get_by_role("button", name="Open long").count() == 0


def _kept(page: Page) -> None:
    """Until the page has handed its login to the browser (the cookie is set)."""
    page.wait_for_selector("html[data-wb-login]", state="attached", timeout=15_000)
    assert page.evaluate("document.documentElement.dataset.wbLogin") == "kept"


def _socket(server: Server, token: str) -> Any:
    url = server.url.replace("http", "ws", 1) + f"/ws?token={token}"
    return connect(url, origin=server.url, open_timeout=10)  # type: ignore[arg-type]


def _closed_by_server(ws: Any) -> tuple[int, str]:
    try:
        while True:
            ws.recv(timeout=10)
    except ConnectionClosed as e:
        assert e.rcvd is not None, "the socket was never closed by the server"
        return e.rcvd.code, e.rcvd.reason


def test_the_page_carries_no_cookie_and_no_jwt(server: Server) -> None:
    with httpx.Client(base_url=server.url) as c:
        token = register(c, "nojwt@example.com")
    cookies = {"token": token, "authToken": token, "theme": "dark"}
    r = httpx.get(server.url + "/dashboard", cookies=cookies, timeout=30)
    assert r.status_code == 200
    found = SESSION_TOKEN.search(r.text)
    assert found, "no session token in the page"
    payload = get_token_payload(found.group(1))
    seen = r.text + json.dumps(payload)
    assert token not in seen and token.split(".")[2] not in seen, "the JWT is in the page"
    assert payload["cookies"] == {}
    assert not {k.lower() for k in payload["headers"]} & {"cookie", "authorization"}
    # the page is logged in all the same: by the login's id, looked up when it was served
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert payload["workbench"]["login"] == jti


def test_a_page_login_lasts_and_log_out_ends_it_everywhere(
    server: Server, ctx: BrowserContext
) -> None:
    page = ctx.new_page()
    register_in_page(page, server.url, "lasts@example.com", "Lasts")
    _kept(page)
    cookie = _cookie(ctx)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    token = cookie["value"]
    assert httpx.get(server.url + "/auth/me", cookies={"token": token}).status_code == 200
    page.reload()
    _trading(page)
    page.locator("#theme-switch").click()  # the light/dark switch reloads the page
    page.wait_for_url(re.compile(r"theme=default"))
    _trading(page)
    shot(page, "dashboard-login-after-theme-switch")
    other = ctx.new_page()  # another tab of the same browser
    other.goto(server.url + "/dashboard")
    _trading(other)

    with _socket(server, token) as ws:
        with page.expect_navigation():  # Log out reloads the page itself
            page.get_by_role("button", name="Log out").click()
        _login_form(page)
        assert _closed_by_server(ws) == (1008, "logged out")
    wait_for(lambda: _cookie(ctx) is None and _cookie(ctx, "authToken") is None,
             "the login cookies to be cleared")  # fmt: skip
    assert httpx.get(server.url + "/auth/me", cookies={"token": token}).status_code == 401
    _login_form(other)  # the other tab ended too (within a few seconds)
    page.reload()
    _login_form(page)
    shot(page, "dashboard-login-after-logout")


def test_an_api_login_in_the_browser_is_ended_by_the_pages_log_out(
    server: Server, ctx: BrowserContext
) -> None:
    with httpx.Client(base_url=server.url) as c:
        register(c, "apilogin@example.com")
    r = ctx.request.post(server.url + "/auth/login",
                         data={"email": "apilogin@example.com", "password": PASSWORD})  # fmt: skip
    assert r.status == 200, r.text()
    token = r.json()["token"]
    page = ctx.new_page()
    page.goto(server.url + "/dashboard")
    _trading(page)
    with page.expect_navigation():  # Log out reloads the page itself: a reload during it fails
        page.get_by_role("button", name="Log out").click()
    _login_form(page)
    wait_for(lambda: _cookie(ctx) is None, "the API's cookie to be cleared")
    page.reload()
    _login_form(page)  # not logged straight back in
    assert httpx.get(server.url + "/auth/me", headers={"Authorization": f"Bearer {token}"}
                     ).status_code == 401  # fmt: skip


def test_a_login_hand_over_works_once_and_only_for_its_own_browser(
    server: Server, browser: Browser
) -> None:
    with httpx.Client(base_url=server.url) as c:
        register(c, "handover@example.com")
    mine, theirs = (browser.new_context() for _ in range(2))
    codes: list[str] = []

    def hold(route: Any) -> None:  # the page's hand-over is kept back: the test sends it
        codes.append(json.loads(route.request.post_data or "{}")["code"])
        route.abort()

    for n in (1, 2):  # two logins in this browser: two codes
        page = mine.new_page()
        page.route("**/dashboard/login", hold)
        page.goto(server.url + "/dashboard")
        page.get_by_placeholder("you@example.com").fill("handover@example.com")
        page.locator("input[type=password]").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        _trading(page)
        wait_for(lambda n=n: len(codes) == n, f"hand-over {n}")
    first, second = ({"code": c} for c in codes)
    theirs.new_page().goto(server.url + "/dashboard")  # their own browser cookie

    def send(c: BrowserContext, body: dict[str, str], origin: str = server.url) -> Any:
        return c.request.post(server.url + "/dashboard/login", data=body,
                              headers={"Origin": origin})  # fmt: skip

    forged = send(mine, first, origin="http://evil.example")  # another site's page
    assert forged.status == 403 and _cookie(mine) is None
    stolen = send(theirs, second)
    assert stolen.status == 400 and "another browser" in stolen.json()["error"]
    assert _cookie(theirs) is None
    assert send(mine, second).status == 400  # a code is tried once, whoever tries it
    kept = send(mine, first)
    assert kept.status == 200 and _cookie(mine) is not None
    again = send(mine, first)
    assert again.status == 400 and "used" in again.json()["error"]
    page = mine.new_page()
    page.goto(server.url + "/dashboard")
    _trading(page)
    mine.close()
    theirs.close()


def test_the_forms_refusals_read_plainly(server: Server, ctx: BrowserContext) -> None:
    page = ctx.new_page()
    page.goto(server.url + "/dashboard")
    said = []
    for email, password in (("nobody", PASSWORD), ("short@example.com", "short")):
        page.get_by_placeholder("you@example.com").fill(email)
        page.locator("input[type=password]").fill(password)
        page.get_by_label("Name (new account)").fill("Plain")
        n = len(said) + 1
        page.get_by_role("button", name="Register").click()
        shown = page.locator(f'[data-error="login"][data-n="{n}"]')
        shown.wait_for(timeout=15_000)
        said.append(shown.inner_text())
    assert said == ["Email must look like name@example.com",
                    "Password must be at least 8 characters"]  # fmt: skip
