"""The screenshots of docs/dashboard.md, taken from a real server: `make screenshots`.

A server on the fake Backpack (a random walk of BTC, ETH and SOL quotes, four a second),
one user with positions, a pending order and a limit that fills while the page looks
(its toast and its notification), then Debian's Chromium takes:

* docs/img/dashboard-live.png: the live page on a desktop (1440x900), dark theme;
* docs/img/dashboard-light.png: the same in the light theme;
* docs/img/dashboard-phone.png: the live page on a phone (390x844): its top and, scrolled,
  the ticket, side by side;
* docs/img/dashboard-replay.png: the replay page playing the simulated market at 60x with
  a bracket strategy.

A PNG over MAX_BYTES is reduced to 256 colours. Look at them after taking them.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from browser_helpers import chromium, wait_for  # noqa: E402
from playwright.sync_api import Browser, Page  # noqa: E402
from server_helpers import Market, Server, bearer, start_server, wait_price  # noqa: E402

OUT = Path(__file__).parents[1] / "docs" / "img"
DESKTOP = {"width": 1440, "height": 900}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                         "has_touch": True, "device_scale_factor": 2}  # fmt: skip
MAX_BYTES = 350_000
START = {"BTC_USDC": Decimal("60000"), "ETH_USDC": Decimal("2600"), "SOL_USDC": Decimal("150")}
TICK = {"BTC_USDC": Decimal("0.1"), "ETH_USDC": Decimal("0.01"), "SOL_USDC": Decimal("0.01")}


class Walk:
    """Quotes of each symbol around a target (mean-reverting noise), published in a thread."""

    def __init__(self, market: Market, seed: int = 7) -> None:
        self.market = market
        self.rand = random.Random(seed)
        self.mid = {s: float(p) for s, p in START.items()}
        self.target = dict(self.mid)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="walk", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)

    def swing(self, seconds: float, amplitude: float = 0.0015, period: float = 30.0) -> None:
        """Swing the targets around their start for `seconds` (a chart with a range)."""
        start = time.monotonic()
        while (t := time.monotonic() - start) < seconds:
            for s, p in START.items():
                self.target[s] = float(p) * (1 + amplitude * math.sin(2 * math.pi * t / period))
            time.sleep(0.25)
        self.target = {s: float(p) for s, p in START.items()}
        time.sleep(4)  # back near the start

    def _run(self) -> None:
        while not self.stopped.wait(0.25):
            for s, tick in TICK.items():
                sd = self.mid[s] * 0.00012
                self.mid[s] += (self.target[s] - self.mid[s]) * 0.08 + self.rand.gauss(0, sd)
                bid = (Decimal(self.mid[s]) / tick).to_integral_value() * tick
                self.market.set(s, str(bid), str(bid + tick))

    def bid(self, symbol: str) -> Decimal:
        return (Decimal(self.mid[symbol]) / TICK[symbol]).to_integral_value() * TICK[symbol]


def _api(server: Server, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=30, headers=bearer(token)) as c:
        r = c.post(path, json=body)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]


def _save(page: Page, name: str, full: Image.Image | None = None) -> Path:
    path = OUT / f"{name}.png"
    if full is None:
        page.screenshot(path=str(path))
    else:
        full.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    print(f"{path.relative_to(OUT.parents[1])}: {path.stat().st_size // 1024} KB")
    return path


def _live(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Open long").wait_for(timeout=30_000)
    page.locator("[data-bid]").first.wait_for(timeout=15_000)


def _scene(server: Server, walk: Walk, token: str) -> None:
    """Two positions with TP, SL and a trailing stop, a pending limit far off, and a limit
    near the price that the walk then fills (a toast and a notification)."""
    btc = walk.bid("BTC_USDC")
    _api(
        server,
        token,
        "/trade/orders",
        {
            "asset": "BTC_USDC",
            "side": "long",
            "leverage": "20",
            "margin": "500",
            "takeProfit": str(btc + 70),
            "stopLoss": str(btc - 75),
            "trailingStop": "90",
        },
    )
    eth = walk.bid("ETH_USDC")
    _api(
        server,
        token,
        "/trade/orders",
        {
            "asset": "ETH_USDC",
            "side": "short",
            "leverage": "10",
            "margin": "300",
            "takeProfit": str(eth - 40),
            "stopLoss": str(eth + 30),
        },
    )
    _api(
        server,
        token,
        "/trade/orders",
        {
            "asset": "BTC_USDC",
            "side": "short",
            "type": "limit",
            "price": str(btc + 50),
            "leverage": "10",
            "margin": "200",
        },
    )
    _api(server, token, "/trade/orders", {
        "asset": "BTC_USDC", "side": "long", "type": "limit", "price": str(btc - 25),
        "leverage": "10", "margin": "250"})  # fmt: skip
    walk.target["BTC_USDC"] = float(btc - 40)  # down through the near limit ...
    time.sleep(4)
    walk.target["BTC_USDC"] = float(btc - 10)  # ... and back


def shoot_live(browser: Browser, server: Server, walk: Walk, token: str) -> None:
    ctx = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    ctx.add_cookies([{"name": "token", "value": token, "url": server.url}])
    page = ctx.new_page()
    _live(page, server.url + "/dashboard")
    _scene(server, walk, token)
    page.locator(".notyf__toast").first.wait_for(timeout=20_000)
    wait_for(lambda: page.locator(".positions-table .tabulator-row").count() >= 3,
             "three positions in the table")  # fmt: skip
    page.wait_for_timeout(600)
    _save(page, "dashboard-live")

    _live(page, server.url + "/dashboard?theme=default")
    page.wait_for_timeout(1500)
    _save(page, "dashboard-light")
    ctx.close()


def shoot_phone(browser: Browser, server: Server, token: str) -> None:
    ctx = browser.new_context(**PHONE)
    ctx.add_cookies([{"name": "token", "value": token, "url": server.url}])
    page = ctx.new_page()
    _live(page, server.url + "/dashboard")
    page.wait_for_timeout(1500)
    top = page.screenshot()
    page.get_by_role("button", name="Open long").scroll_into_view_if_needed()
    page.evaluate("document.querySelector('#main').scrollBy(0, 200)")
    page.wait_for_timeout(500)
    ticket = page.screenshot()
    ctx.close()
    frames = [Image.open(_png(top)), Image.open(_png(ticket))]
    gap = 24
    w, h = frames[0].size
    both = Image.new("RGB", (2 * w + gap, h), "white")
    for i, frame in enumerate(frames):
        both.paste(frame, (i * (w + gap), 0))
    both = both.resize((both.width // 2, both.height // 2), Image.Resampling.LANCZOS)
    _save(page, "dashboard-phone", both)


def _png(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def shoot_replay(browser: Browser, server: Server) -> None:
    ctx = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = ctx.new_page()
    page.goto(server.url + "/dashboard/replay")
    page.get_by_text("then Load", exact=False).wait_for(timeout=30_000)
    for label in page.locator(".symbol-picker label").all():  # the simulated tape only
        box = label.locator("input")
        if ("SIMULATED" in label.inner_text()) != box.is_checked():
            box.click()
    page.get_by_label("Strategy").select_option(label="bracket ±0.3 %, re-entered")
    page.get_by_label("Speed").select_option(label="60×")
    page.get_by_role("button", name="Load").click()
    page.locator(".replay-said", has_text="loaded").wait_for(timeout=60_000)
    page.get_by_role("button", name="Play").click()
    page.wait_for_timeout(12_000)
    _save(page, "dashboard-replay")
    ctx.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    market = Market()
    walk = Walk(market)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", feed="backpack", backpack_url=market.url,
                              extra=["--fallback-after", "120"])  # fmt: skip
        try:
            market.fake.wait_subscribed(["bookTicker.BTC_USDC"])
            with server.client() as c:
                market.set("BTC_USDC", "60000", "60000.1")
                wait_price(c, "BTC_USDC", "60000")
                walk.start()
                r = c.post("/auth/register", json={"name": "Ann", "email": "ann@example.com",
                                                   "password": "correct horse 1"})  # fmt: skip
                assert r.status_code == 201, r.text
                token = r.json()["token"]
            walk.swing(45)  # a chart with some candles
            with chromium() as browser:
                shoot_live(browser, server, walk, token)
                shoot_phone(browser, server, token)
                shoot_replay(browser, server)
        finally:
            walk.stop()
            server.stop()
            market.stop()


if __name__ == "__main__":
    main()
