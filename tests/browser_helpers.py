"""Debian's Chromium driven by Playwright, and helpers to read a Panel page inside it.

Bokeh renders in shadow DOM: Playwright's CSS, role and text locators pierce it; model
data is read from `Bokeh.documents[0].get_model_by_name(...)`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]  # fmt: skip
VIEWPORT = {"width": 1440, "height": 900}


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Page, name: str) -> Path:
    """A screenshot kept in test-artifacts/ (look at them)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def model_js(name: str, expr: str) -> str:
    """JS evaluating `expr` on the Bokeh model named `name` (m), or null if not there."""
    return (
        "() => { const d = window.Bokeh && Bokeh.documents[0]; if (!d) return null; "
        f"const m = d.get_model_by_name({name!r}); return m ? ({expr}) : null; }}"
    )


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def answers(page: Page, box: str) -> Any:
    """The answer shown under a form (`box`: ticket, edit, broker; see messages.said_html)."""
    return page.locator(f'[data-box="{box}"][data-n]')


def answer_count(shown: Any) -> int:
    """How many answers the box has shown (its data-n), read at once: a redrawn box must
    not make the test wait for the old one."""
    return int(shown.evaluate_all("els => els.length ? +els[0].dataset.n || 0 : 0"))


def answer_to(page: Page, box: str, act: Callable[[], Any]) -> str:
    """Do `act` and return the next answer shown in `box`."""
    shown = answers(page, box)
    before = answer_count(shown)
    act()
    wait_for(lambda: answer_count(shown) not in (0, before), f"an answer in the {box} box")
    return str(shown.first.inner_text())


def click_table_button(button: Any, answered: Any, done: Callable[[], Any], what: str) -> None:
    """Click a table row's button and wait for `done`. On a loaded machine a table can be
    redrawn between the button's mousedown and mouseup, and the browser then drops the
    click: nothing is sent, so no answer appears in `answered`. A trader clicks again; so
    does the test, once, and only then."""
    before = answer_count(answered)
    button.click()
    try:
        wait_for(done, what, timeout=8)
    except AssertionError:
        assert answer_count(answered) == before, answered.first.inner_text()
        button.click()
        wait_for(done, what)


def register_in_page(page: Page, base: str, email: str, name: str, mode: str = "isolated") -> None:
    """Open the live page and register a new user through its form."""
    page.goto(base + "/dashboard")
    page.get_by_placeholder("you@example.com").fill(email)
    page.locator("input[type=password]").fill("correct horse 1")
    page.get_by_label("Name (new account)").fill(name)
    if mode != "isolated":
        page.get_by_role("button", name=mode, exact=True).click()
    page.get_by_role("button", name="Register").click()
    page.get_by_role("button", name=re.compile("Open (long|short)")).wait_for(timeout=20_000)


def rows(page: Page, table: str) -> list[list[str]]:
    """The rows of the Tabulator with class `table`, as cell texts (read in one go)."""
    return page.locator(f"{table} .tabulator-row").evaluate_all(  # type: ignore[no-any-return]
        "rows => rows.map(r => Array.from(r.querySelectorAll('.tabulator-cell'))"
        ".map(c => c.innerText.trim()))"
    )


def figure(page: Page, field: str) -> str:
    """A figure of the account strip (`balance`, `equity`, `open_p/l`, ...)."""
    return page.locator(f'[data-field="{field}"]').first.inner_text().strip()
