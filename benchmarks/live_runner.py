"""Quote-to-order latency of a strategy paper-trading live (`workbench.backtest.live`).

`workbench serve --feed backpack` on a fake Backpack that publishes a BTC_USDC quote every
`--every` ms (100); a `LiveRunner` (in this process) trades it with a strategy that answers
every quote with one order: a market open, then its close at the next quote. Per order:
- **quote -> order** (the figure with the target): from the quote's arrival at the
  runner's socket to the order's answer in the strategy's hands (REST call, engine,
  journal fsync, the engine's event back over /ws);
- in the strategy: from the hook's start to the answer (the same minus the runner's own
  queueing), and of it the REST call alone (the server's answer; the rest is waiting for
  the engine's event over /ws);
- end to end: from the quote's exchange time (stamped by the fake when it published it) to
  the answer: the server's feed and the /ws push included.
The last line is `ratio: <20 ms target / p99 quote -> order>`.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _servers import Proc, free_port  # noqa: E402

from workbench.backtest import Strategy  # noqa: E402
from workbench.backtest.live import LiveRunner  # noqa: E402
from workbench.client import Client  # noqa: E402
from workbench.feeds.backpack_client import now_us  # noqa: E402
from workbench.testing.backpack_frames import book_ticker_frame  # noqa: E402
from workbench.testing.fake_backpack_thread import FakeBackpackThread  # noqa: E402

TARGET_MS = 20.0
SYM = "BTC_USDC"


class PingPong(Strategy):
    """Every quote gets one order: open a long, close it at the next quote."""

    def __init__(self, runner_box: list[LiveRunner], orders: int) -> None:
        self.box, self.left = runner_box, orders
        self.ref: str | None = None
        self.rows: list[tuple[float, float, float, str]] = []  # (socket, hook, e2e s, ok)

    def on_quote(self, ctx: Any, q: Any) -> None:
        if self.left <= 0:
            return
        start = time.perf_counter()
        received = self.box[0].received
        if self.ref is None:
            ticket = ctx.open(SYM, "long", "10", qty="0.001")
            self.ref = ticket if ticket.ok else None
        else:
            ticket = ctx.close(self.ref)
            self.ref = None
        done = time.perf_counter()
        e2e = (now_us() - q.t) / 1e6
        self.rows.append((done - received, done - start, e2e, ticket.event["type"]))
        self.left -= 1
        if self.left == 0:
            self.box[0].stop()


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=600, help="orders to time (after warm-up)")
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--every", type=float, default=100.0, help="ms between quotes")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    fake = FakeBackpackThread()
    tmp = tempfile.TemporaryDirectory(prefix="live-bench-")
    port = free_port()
    srv = Proc("server", [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
                          "--data-dir", str(Path(tmp.name) / "data"), "--feed", "backpack",
                          "--backpack-url", fake.url, "--fallback-after", "3600"],
               port, Path(tmp.name) / "server.log")  # fmt: skip
    stop = threading.Event()
    try:
        srv.wait_ready()
        fake.wait_subscribed([f"bookTicker.{SYM}"])
        update = [0]

        def publish() -> None:
            price = Decimal(60000)
            while not stop.is_set():
                update[0] += 1
                price += Decimal("0.1") if update[0] % 2 else Decimal("-0.1")
                fake.publish(book_ticker_frame(SYM, bid=str(price), ask=str(price + 1),
                                               bid_qty="1", ask_qty="1",
                                               update_id=update[0], t=now_us()))  # fmt: skip
                stop.wait(args.every / 1000)

        feeder = threading.Thread(target=publish, daemon=True)
        feeder.start()
        with Client(srv.url) as c:
            c.register("bench@example.com", "correct horse 1")
            token = c.token
        box: list[LiveRunner] = []
        strat = PingPong(box, args.warmup + args.orders)
        runner = LiveRunner(strat, srv.url, token=token, symbols=[SYM], sample_every=None)
        box.append(runner)
        calls: list[float] = []  # each command's REST round trip
        raw = runner.rest.raw

        def timed(method: str, path: str, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return raw(method, path, **kw)
            finally:
                if method != "GET":
                    calls.append(time.perf_counter() - t0)

        runner.rest.raw = timed  # type: ignore[method-assign]
        wall = time.perf_counter()
        res = runner.run(duration=(args.warmup + args.orders) * args.every / 1000 * 4 + 30)
        wall = time.perf_counter() - wall
    finally:
        stop.set()
        srv.stop()
        fake.stop()
        tmp.cleanup()
    rows = strat.rows[args.warmup :]
    bad = [r for r in rows if r[3] == "rejected"]
    sock, hook, e2e = ([r[i] * 1000 for r in rows] for i in range(3))
    print(f"{len(rows)} orders timed ({args.warmup} warm-up), a quote every {args.every:g} ms, "
          f"{res.quotes:,} quotes handled in {wall:.1f} s; {len(bad)} rejected")  # fmt: skip
    rest = [x * 1000 for x in calls[args.warmup :]]
    timed = (("quote -> order", sock), ("in the strategy", hook), ("  REST call", rest),
             ("end to end", e2e))  # fmt: skip
    for name, xs in timed:
        print(f"{name:16} p50 {statistics.median(xs):6.2f} ms  p99 {pct(xs, 99):6.2f} ms  "
              f"max {max(xs):6.2f} ms")  # fmt: skip
    print(f"target: p99 quote -> order < {TARGET_MS:g} ms")
    print(f"ratio: {TARGET_MS / pct(sock, 99):.2f}")


if __name__ == "__main__":
    main()
