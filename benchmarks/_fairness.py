"""dashboard_load.py's fairness run: does one user's full-speed replay slow the others?

A server on the fake Backpack (20 quotes/s stamped with the wall clock) and a tick store
of 1M simulated quotes per symbol. Ten live sessions watch (1 Chromium page + 9 raw
sessions, as in the latency run) while one Chromium replay page plays SIM_BTC_USDC at
"max" with the bracket strategy, loaded again each time the tape ends; then the same
without the replay. Measured: quote→browser latency (the Chromium page, p50 and p99;
the raw sessions' p99), /health answered every 100 ms from another thread (p99), and
how long a new live page takes to be usable (its chart has a quote and its ticket's
button is there), three times after the window (opening a page costs the server and
this machine's Chromium a lot: measured apart, it does not blur the replay's effect).
Targets: latency p99 < 150 ms, a new page < 2 s, /health p99 < 100 ms.
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _servers import cpu_seconds
from playwright.sync_api import Browser, Page

from workbench.feeds.backpack_client import now_us
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.schema import connect
from workbench.testing.backpack_frames import book_ticker_frame
from workbench.testing.fake_backpack_thread import FakeBackpackThread

WINDOW_S = 12.0  # the sessions watching; then the new pages open
REPLAY = "SIM_BTC_USDC"
STRATEGY = "bracket ±0.1 %, re-entered"
READY = (
    "() => { const d = window.Bokeh && Bokeh.documents[0]; if (!d) return false; "
    "const m = d.get_model_by_name('quotes'); return !!m && m.data.t.length > 0 }"
)


def tick_store(tmp: Path) -> Path:
    store = tmp / "fair-ticks" / "workbench.duckdb"
    store.parent.mkdir(parents=True)
    con = connect(store)
    SyntheticFeed(seed=3, gaps_per_hour=0).write(con, 1_000_000)
    con.close()
    return store


def p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[int(q * (len(xs) - 1))] if xs else float("nan")


class Replaying:
    """A Chromium replay page kept playing REPLAY at max with the strategy."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        pg = self.page
        pg.goto(url + "/dashboard/replay")
        pg.get_by_text("Pick symbols and a range, then Load.").wait_for(timeout=60_000)
        for label in pg.locator(".symbol-picker label").all():  # REPLAY's tape only
            box = label.locator("input")
            if (REPLAY in label.inner_text()) != box.is_checked():
                box.click()
        pg.get_by_label("Speed").select_option(label="max")
        pg.get_by_label("Strategy").select_option(label=STRATEGY)
        pg.get_by_role("button", name="Load").click()
        self.playing = False
        self.plays = 0

    def keep_going(self) -> None:
        pg = self.page
        if not self.playing and pg.get_by_text(f"quotes of {REPLAY} loaded").count():
            pg.get_by_role("button", name="Play", exact=True).click()
            self.playing, self.plays = True, self.plays + 1
        elif self.playing and pg.get_by_text("End of the tape").count():
            pg.get_by_role("button", name="Load").click()
            self.playing = False

    def close(self) -> None:
        self.page.context.close()


def _publish(fake: FakeBackpackThread, stop: threading.Event) -> None:
    bid, i = 60_000.0, 0
    while not stop.is_set():
        i += 1
        bid += 0.5 if i % 3 else -0.5
        frame = book_ticker_frame("BTC_USDC", bid=f"{bid:.1f}", ask=f"{bid + 0.5:.1f}",
                                  bid_qty="1", ask_qty="1", update_id=i, t=now_us())  # fmt: skip
        fake.publish(frame)
        time.sleep(0.05)


def _health(url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=30) as c:
        while not stop.is_set():
            t = time.monotonic()
            c.get(url + "/health")
            out.append((time.monotonic() - t) * 1000)
            time.sleep(0.1)


def _new_page(browser: Browser, url: str, token: str) -> tuple[float, Page]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    ctx.add_cookies([{"name": "token", "value": token, "url": url}])
    page = ctx.new_page()
    t = time.monotonic()
    page.goto(url + "/dashboard")
    nav = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0]; "
                        "return [n.responseStart, n.domInteractive] }")  # fmt: skip
    page.wait_for_function(READY, timeout=60_000)
    page.get_by_role("button", name="Open long").wait_for(timeout=60_000)
    took = time.monotonic() - t
    print(f"  a new page: the server answered in {nav[0] / 1000:.2f} s, scripts ran by "
          f"{nav[1] / 1000:.2f} s, usable at {took:.2f} s", flush=True)  # fmt: skip
    return took, page


def measure(browser: Browser, fake: FakeBackpackThread, url: str, pid: int, open_pages: Any,
            raw_sessions: Any, watch: str, replay: bool) -> dict[str, Any]:  # fmt: skip
    """One window of WINDOW_S with ten live sessions, with or without the replay."""
    (live,) = open_pages(browser, url, 1)
    raw = raw_sessions(url, 9)
    tokens = [httpx.post(url + "/auth/register", json={
        "name": "n", "password": "correct horse 1",
        "email": f"new{replay}{i}@example.com"}, timeout=60,  # argon2 on a loaded machine
    ).json()["token"] for i in range(3)]  # fmt: skip
    rep = Replaying(browser, url) if replay else None
    if rep is not None:  # the replay is playing before the window opens
        deadline = time.monotonic() + 60
        while not rep.playing and time.monotonic() < deadline:
            rep.keep_going()
            time.sleep(0.1)
    live.evaluate(watch)
    raw.lat.clear()
    stop, health = threading.Event(), []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=_publish, args=(fake, stop)),
               threading.Thread(target=_health, args=(url, stop, health))]  # fmt: skip
    for th in threads:
        th.start()

    def keep_going(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if rep is not None:
                rep.keep_going()
            time.sleep(0.1)

    # first the sessions only watch; then three new live pages open, one by one
    t0, cpu0 = time.monotonic(), cpu_seconds(pid)
    keep_going(WINDOW_S)
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    time.sleep(0.3)
    lat, raw_lat, health_lat = live.evaluate("window.lat")[1:], list(raw.lat), list(health)
    opens, pages = [], []
    for token in tokens:
        took, pg = _new_page(browser, url, token)
        opens.append(took)
        pages.append(pg)
        keep_going(1.0)
    stop.set()
    for th in threads:
        th.join()
    raw.close()
    for pg in [live, *pages]:
        pg.context.close()
    plays = rep.plays if rep is not None else 0
    if rep is not None:
        rep.close()
    return {
        "lat": lat,
        "raw": raw_lat,
        "health": health_lat,
        "opens": opens,
        "plays": plays,
        "cpu": cpu,
    }


def fairness(browser: Browser, tmp: Path, start: Any, open_pages: Any, raw_sessions: Any,
             watch: str) -> list[str]:  # fmt: skip
    """Both windows, each on a fresh server; the report lines."""
    store = tick_store(tmp)
    lines = []
    # 13 users register from 127.0.0.1 in each window (the default allows 10 per 10 min)
    os.environ.setdefault("WORKBENCH_REGISTER_LIMIT", "1000/600")
    for replay in (True, False):
        data = tmp / f"fair-{replay}"
        data.mkdir()
        shutil.copy(store, data / "workbench.duckdb")
        fake = FakeBackpackThread()
        srv = start(data, "--feed", "backpack", "--backpack-url", fake.url)
        try:
            fake.wait_subscribed(["bookTicker.BTC_USDC"])
            r = measure(browser, fake, srv.url, srv.proc.pid, open_pages, raw_sessions, watch,
                        replay)  # fmt: skip
        finally:
            srv.stop()
            fake.stop()
        beside = (f"beside a max-speed strategy replay ({r['plays']} plays of 1M quotes)"
                  if replay else "without a replay")  # fmt: skip
        lines.append(
            f"fairness, 10 live sessions {beside}: browser p50 "
            f"{statistics.median(r['lat']):.0f} ms, p99 {p(r['lat'], 0.99):.0f} ms "
            f"({len(r['lat'])} quotes); raw sessions p99 {p(r['raw'], 0.99):.0f} ms; "
            f"a new live page usable in {', '.join(f'{x:.2f}' for x in r['opens'])} s; "
            f"/health p50 {statistics.median(r['health']):.0f} ms, p99 "
            f"{p(r['health'], 0.99):.0f} ms (targets: p99 < 150 ms, < 2 s, < 100 ms); "
            f"the serving process used {100 * r['cpu']:.0f} % of a core; load average "
            f"{os.getloadavg()[0]:.1f}"
        )
    return lines
