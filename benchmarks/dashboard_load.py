"""Dashboards under load: quote-to-browser latency, the cost of open sessions to the
engine's replay throughput, and memory per session. Real server, real Chromium.

Sessions are either real Chromium pages (logged in with the API's cookie) or "raw"
sessions: a page fetched and its Bokeh WebSocket opened by a small Python client that
reads every message, so the server does all its work for them without ten browsers
fighting for this machine's two cores (they are users' browsers, on users' machines).

1. latency: a fake Backpack publishes 20 quotes/s stamped with the wall clock; one
   Chromium page notes when each quote reaches its chart's data source while 9 raw
   sessions are served too (and note the same). Also run with 10 Chromium pages, to
   show what ten browsers on two cores do. Target p99 < 100 ms with 10 sessions.
2. replay (`_replay_share.py`): the server replays 12M stored simulated quotes as fast
   as it can, with the dashboards and 10 raw sessions open, and without the dashboards:
   quotes/s with them >= 0.9 of without, and the event loop's lag p99 < 100 ms during
   it. `dashboard_load.py replay` runs only this one.
3. memory: server RSS before and after opening 20 Chromium pages, per page. < 5 MB.
4. fairness (`_fairness.py`): ten live sessions beside one replay page playing at max
   with a strategy, and without it: latency p99 < 150 ms, a new live page usable in
   < 2 s, /health p99 < 100 ms. `dashboard_load.py fairness` runs only this one.
The last line is `ratio: <100 ms ÷ p99 of the browser with 10 sessions>`.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import websockets
from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from _fairness import fairness  # noqa: E402
from _replay_share import replay_share  # noqa: E402
from _servers import Proc, free_port  # noqa: E402

from workbench.feeds.backpack_client import now_us
from workbench.testing.backpack_frames import book_ticker_frame
from workbench.testing.fake_backpack_thread import FakeBackpackThread

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--disable-renderer-backgrounding",
         "--disable-background-timer-throttling"]  # fmt: skip
WATCH = """() => {
  window.lat = [];
  const m = Bokeh.documents[0].get_model_by_name('quotes');
  m.streaming.connect(() => { const t = m.data.t; window.lat.push(Date.now() - t[t.length - 1]); });
}"""


def start(data: Path, *args: str) -> Proc:
    """`workbench serve` on `data` with `args`, once /health answers."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
           "--data-dir", str(data), *args]  # fmt: skip
    proc = Proc("workbench serve", cmd, port, data / "server.log")
    try:
        # Panel's import and first page build: over a minute on a saturated machine
        proc.wait_ready(lambda health: health["dashboard"]["ready"], timeout=180)
    except RuntimeError:
        proc.stop()
        raise
    return proc


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_users = 0


def open_pages(browser: Browser, url: str, n: int) -> list[Page]:
    """n pages of /dashboard, each logged in as a new user (the API's cookie)."""
    global _users
    pages = []
    for _ in range(n):
        _users += 1
        user = {"name": "b", "password": "correct horse 1", "email": f"b{_users}@example.com"}
        r = httpx.post(url + "/auth/register", json=user)
        ctx = browser.new_context()
        ctx.add_cookies([{"name": "token", "value": r.json()["token"], "url": url}])
        pg = ctx.new_page()
        pg.goto(url + "/dashboard")
        pg.wait_for_function(
            "() => window.Bokeh && Bokeh.documents.length > 0 && "
            "Bokeh.documents[0].get_model_by_name('quotes')", timeout=60_000,
        )  # fmt: skip
        pages.append(pg)
    return pages


QUOTE_T = re.compile(r'\["t",\[([0-9.]+)\]\],\["bid"')


class RawSessions:
    """n Bokeh sessions held by Python clients in a thread; each notes quote arrivals."""

    def __init__(self, url: str, n: int | list[str]) -> None:
        """n new users, or the API tokens of users registered already."""
        self.url = url
        self.given = n if isinstance(n, list) else None
        self.n = len(n) if isinstance(n, list) else n
        self.lat: list[float] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()
        if not self.ready.wait(60):
            raise RuntimeError("raw sessions did not open")

    async def _main(self) -> None:
        global _users
        async with httpx.AsyncClient(timeout=30) as http:
            tokens = []
            for i in range(self.n):
                if self.given is not None:
                    token = self.given[i]
                else:
                    _users += 1
                    user = {"name": "r", "password": "correct horse 1",
                            "email": f"r{_users}@example.com"}  # fmt: skip
                    reg = await http.post(self.url + "/auth/register", json=user)
                    token = reg.json()["token"]
                page = (await http.get(self.url + "/dashboard", cookies={"token": token})).text
                tokens.append(re.search(r'"token":\s*"([^"]+)"', page).group(1))  # type: ignore[union-attr]
            # a session's socket must bring the browser cookie its page was served with
            browser = {"Cookie": f"workbench_browser={http.cookies['workbench_browser']}"}
        ws_url = self.url.replace("http", "ws", 1) + "/dashboard/ws"
        socks = [await websockets.connect(ws_url, subprotocols=["bokeh", t], origin=self.url,  # type: ignore[list-item,arg-type]
                                          additional_headers=browser, max_size=None)
                 for t in tokens]  # fmt: skip
        self.ready.set()
        await asyncio.gather(*(self._read(ws) for ws in socks))

    async def _read(self, ws: websockets.ClientConnection) -> None:
        while not self.stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:
                return
            if isinstance(msg, str) and '"bid"' in msg:
                for t in QUOTE_T.findall(msg):
                    self.lat.append(time.time() * 1000 - float(t))
        await ws.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


def latency(
    browser: Browser, tmp: Path, pages_n: int, raw_n: int
) -> tuple[list[float], list[float]]:
    """(browser latencies, raw-session latencies) in ms."""
    fake = FakeBackpackThread()
    srv = start(tmp / f"lat{pages_n}", "--feed", "backpack", "--backpack-url", fake.url)
    url = srv.url
    try:
        fake.wait_subscribed(["bookTicker.BTC_USDC"])
        pages = open_pages(browser, url, pages_n)
        raw = RawSessions(url, raw_n) if raw_n else None
        for pg in pages:
            pg.evaluate(WATCH)
        bid = 60_000.0
        for i in range(300):
            bid += 0.5 if i % 3 else -0.5
            fake.publish(book_ticker_frame("BTC_USDC", bid=f"{bid:.1f}", ask=f"{bid + 0.5:.1f}",
                                           bid_qty="1", ask_qty="1", update_id=i + 1,
                                           t=now_us()))  # fmt: skip
            time.sleep(0.05)
        time.sleep(1)
        lat = [x for pg in pages for x in pg.evaluate("window.lat")[1:]]
        for pg in pages:
            pg.context.close()
        raw_lat: list[float] = []
        if raw is not None:
            raw.close()
            raw_lat = raw.lat
        return lat, raw_lat
    finally:
        srv.stop()
        fake.stop()


def pcts(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[int(0.99 * (len(xs) - 1))]


def memory(browser: Browser, tmp: Path) -> float:
    srv = start(tmp / "mem", "--feed", "synthetic")
    url = srv.url
    try:
        warm = open_pages(browser, url, 2)  # the first sessions load the modules
        time.sleep(2)
        before = rss_mb(srv.proc.pid)
        pages = open_pages(browser, url, 20)
        time.sleep(3)
        after = rss_mb(srv.proc.pid)
        for pg in pages + warm:
            pg.context.close()
        return (after - before) / 20
    finally:
        srv.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        tmp = Path(d)
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        if sys.argv[1:] == ["replay"]:
            for line in replay_share(tmp, start, RawSessions):
                print(line)
            return
        for line in fairness(browser, tmp, start, open_pages, RawSessions, WATCH):
            print(line)
        if sys.argv[1:] == ["fairness"]:
            return
        lat, raw = latency(browser, tmp, 1, 9)
        (b50, b99), (r50, r99) = pcts(lat), pcts(raw)
        print(f"latency, 10 sessions (1 Chromium + 9 raw): browser p50 {b50:.0f} ms, "
              f"p99 {b99:.0f} ms ({len(lat)} quotes); raw sessions p50 {r50:.0f} ms, "
              f"p99 {r99:.0f} ms ({len(raw)} arrivals) (target p99 < 100 ms)")  # fmt: skip
        lat10, _ = latency(browser, tmp, 10, 0)
        c50, c99 = pcts(lat10)
        print(f"latency, 10 Chromium pages on this 2-core machine: p50 {c50:.0f} ms, "
              f"p99 {c99:.0f} ms ({len(lat10)} quote arrivals)")  # fmt: skip
        for line in replay_share(tmp, start, RawSessions):
            print(line)
        mb = memory(browser, tmp)
        print(f"memory: {mb:.2f} MB per session (20 Chromium pages; target < 5 MB)")
        browser.close()
        print(f"ratio: {100 / b99:.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
