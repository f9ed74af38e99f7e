"""The dashboard's security in Debian's Chromium: a session link or a leaked session token
gives nobody the victim's account, one browser's failed logins do not lock out another,
and the pages run under their Content-Security-Policy with no violation (and no framing).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from bokeh.util.token import get_session_id
from browser_helpers import register_in_page, wait_for
from playwright.sync_api import Browser, BrowserContext, Page
from server_helpers import Market, Server, register, running_server

TOKEN = re.compile(r'"token":\s*"([^"]+)"')
PASSWORD = "correct horse 1"
# the CSP violations a page saw (the event fires in the page; the console says it too)
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
TRY_SOCKET = """([url, token]) => new Promise(resolve => {
    const ws = new WebSocket(url, ['bokeh', token]);
    ws.onmessage = () => { resolve('message'); ws.close(); };
    ws.onerror = () => resolve('error');
    ws.onclose = () => resolve('closed');
    setTimeout(() => resolve('no answer'), 10000);
})"""


def _context(browser: Browser) -> BrowserContext:
    return browser.new_context(viewport={"width": 1440, "height": 900})


def _log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_placeholder("you@example.com").fill(email)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="Log in").click()


def _trading(page: Page, within_ms: float) -> bool:
    """Whether the page shows an account's order ticket within `within_ms`."""
    try:
        page.get_by_role("button", name="Open long").wait_for(timeout=within_ms)
    except Exception:
        return False
    return True


def _open_orders(server: Server, token: str) -> list[dict[str, str]]:
    r = httpx.get(server.url + "/trade/orders", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()["orders"]  # type: ignore[no-any-return]


def test_a_session_link_or_leaked_token_gives_nobody_the_victims_account(
    server: Server, market: Market, browser: Browser
) -> None:
    with httpx.Client(base_url=server.url) as c:
        victim_api = register(c, "vic@example.com")
    # the attacker reads a session id from the token of their own page, and sends the link
    mine = httpx.get(server.url + "/dashboard", timeout=30)
    link = f"{server.url}/dashboard?bokeh_session_id={get_session_id(TOKEN.findall(mine.text)[0])}"
    victim_ctx, attacker_ctx = _context(browser), _context(browser)
    victim, attacker = victim_ctx.new_page(), attacker_ctx.new_page()
    opened = victim.goto(link)
    assert opened is not None
    link_status = opened.status
    if link_status != 200:  # refused: the victim opens the dashboard itself
        victim.goto(server.url + "/dashboard")
    _log_in(victim, "vic@example.com")
    assert _trading(victim, 20_000)
    victim_token = TOKEN.findall(victim.content())[0]
    victim_link = f"{server.url}/dashboard?bokeh_session_id={get_session_id(victim_token)}"

    # the attacker, with no cookie of the victim's: both links, and the leaked token
    seen = []
    for url in (link, victim_link):
        answer = attacker.goto(url)
        assert answer is not None
        took_over = answer.status == 200 and _trading(attacker, 10_000)
        if took_over:  # what an attacker would do next
            market.set("BTC_USDC", "60000", "60000.5")  # a fresh quote to trade on
            attacker.get_by_role("button", name="Open long").click()
            time.sleep(2)
        seen.append((answer.status, took_over))
    attacker.goto(server.url + "/dashboard")
    socket = attacker.evaluate(TRY_SOCKET, [server.url.replace("http", "ws") + "/dashboard/ws",
                                            victim_token])  # fmt: skip

    assert _open_orders(server, victim_api) == [], "the attacker traded on the victim's account"
    assert seen == [(403, False), (403, False)], seen  # (status, saw the victim's account)
    assert socket == "error", f"another browser attached to the victim's session: {socket}"
    assert link_status == 403, "a link naming a session was served"
    assert _trading(victim, 1_000)  # the victim's own page goes on
    victim_ctx.close()
    attacker_ctx.close()


def test_failed_logins_in_one_browser_do_not_lock_out_another(
    server: Server, browser: Browser
) -> None:
    with httpx.Client(base_url=server.url) as c:
        register(c, "kim@example.com")
    guesser_ctx, user_ctx = _context(browser), _context(browser)
    guesser, user = guesser_ctx.new_page(), user_ctx.new_page()
    guesser.goto(server.url + "/dashboard")
    for n in range(1, 61):  # a new email each time: the browser's limit, not an email's
        _log_in(guesser, f"guess{n}@example.com", "wrong password 1")
        refusal = guesser.locator(f'[data-error="login"][data-n="{n}"]')
        refusal.wait_for(timeout=15_000)
        if "too many" in refusal.inner_text():
            break
    assert "too many login attempts" in refusal.inner_text(), "the guesses were never throttled"
    assert n == 31, f"throttled at guess {n}: the limit is 30 a minute"
    user.goto(server.url + "/dashboard")
    _log_in(user, "kim@example.com")
    assert _trading(user, 20_000), user.locator('[data-error="login"]').all_inner_texts()
    guesser_ctx.close()
    user_ctx.close()


def test_registering_in_the_page_counts_against_the_address_limit(
    tmp_path: Path, browser: Browser
) -> None:
    """The page registers as `POST /auth/register` does: same per-address limit."""
    with running_server(tmp_path / "data", env={"WORKBENCH_REGISTER_LIMIT": "2/600"}) as srv:
        with httpx.Client(base_url=srv.url) as c:
            register(c, "one@example.com")
            register(c, "two@example.com")
        ctx = _context(browser)
        page = ctx.new_page()
        page.goto(srv.url + "/dashboard")
        page.get_by_placeholder("you@example.com").fill("three@example.com")
        page.locator("input[type=password]").fill(PASSWORD)
        page.get_by_label("Name (new account)").fill("Three")
        page.get_by_role("button", name="Register").click()
        refusal = page.locator('[data-error="login"]')
        refusal.wait_for(timeout=20_000)
        assert "too many registrations" in refusal.inner_text()
        ctx.close()


def test_the_pages_run_under_their_policy_with_no_violation(
    server: Server, market: Market, browser: Browser
) -> None:
    ctx = _context(browser)
    ctx.add_init_script(WATCH_CSP)
    page = ctx.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    answer = page.goto(server.url + "/dashboard")
    assert answer is not None
    policy = answer.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    register_in_page(page, server.url, "csp@example.com", "Csp")  # the page works
    market.set("BTC_USDC", "60000", "60000.5")  # a fresh quote to trade on
    page.get_by_label("Margin (USD)").fill("100")
    page.get_by_label("Leverage").fill("10")
    page.get_by_label("Leverage").press("Enter")
    page.get_by_role("button", name="Open long").click()
    said = page.locator('[data-n="1"]')
    said.wait_for(timeout=15_000)
    assert said.inner_text().startswith("Opened long"), said.inner_text()
    violations = page.evaluate("window.__csp")
    page.goto(server.url + "/dashboard/replay")
    page.get_by_role("button", name="Load").wait_for(timeout=20_000)
    page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0")
    violations += page.evaluate("window.__csp")
    assert violations == [], violations
    assert not [m for m in console if "Content Security Policy" in m], console
    # another page cannot frame the dashboard (clickjacking)
    page.set_content(f'<iframe id="f" src="{server.url}/dashboard"></iframe>')
    wait_for(lambda: [m for m in console if "frame-ancestors" in m or "X-Frame-Options" in m],
             "the browser to refuse the frame")  # fmt: skip
    assert page.frame_locator("#f").get_by_role("button").count() == 0
    ctx.close()
