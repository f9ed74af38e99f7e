"""Helpers of the live runner's tests: strategies with plain rules, a runner in a thread, a
server on a fixed port (to restart it where it was), and a TCP proxy that breaks the line."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from server_helpers import Server

from workbench.backtest import Strategy
from workbench.backtest.live import LiveResult, LiveRunner

SYM = "BTC_USDC"


class Ladder(Strategy):
    """Rules on BTC_USDC: at the start a market long `a` of 0.02, a limit long `p` of 0.01
    at 59500 and a short stop `s` of 0.01 at 58000; `s` is cancelled and half of `a`
    closed at a bid of 60500 or more, `a` closed at 61000 or more; when `p` fills, its
    take profit is set to 60500."""

    def on_start(self, ctx: Any) -> None:
        ctx.state["a"] = ctx.open(SYM, "long", "10", qty="0.02")
        ctx.state["p"] = ctx.order(SYM, "long", "limit", "59500", "10", qty="0.01")
        ctx.state["s"] = ctx.order(SYM, "short", "stop", "58000", "10", qty="0.01")

    def on_quote(self, ctx: Any, q: Any) -> None:
        if q.bid >= 60500 and ctx.state["s"] in ctx.pending:
            ctx.cancel(ctx.state["s"])
        pos = ctx.position(ctx.state["a"])
        if pos is None:
            return
        if q.bid >= 61000:
            ctx.close(ctx.state["a"])
        elif q.bid >= 60500 and Decimal(pos["qty"]) == Decimal("0.02"):
            ctx.close(ctx.state["a"], qty="0.01")

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "opened" and ev.get("order") == "limit":
            ctx.modify(ev["ref"], take_profit="60500")


class Reenter(Strategy):
    """Always one long of 0.01 on BTC_USDC with its take profit `gap` above the entry: one
    at the start, the next each time one closes."""

    def __init__(self, gap: str = "500") -> None:
        self.gap = Decimal(gap)
        self.tickets: list[Any] = []

    def on_start(self, ctx: Any) -> None:
        self.enter(ctx)

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "closed":
            self.enter(ctx)

    def enter(self, ctx: Any) -> None:
        ask = ctx.last_quote(SYM)["ask"]
        self.tickets.append(ctx.open(SYM, "long", "10", qty="0.01", take_profit=ask + self.gap))


class Waiter(Strategy):
    """A limit long of 0.01 BTC_USDC `below` the first ask, take profit `above` over its
    price; the bars of `bars` and the times the hooks saw are kept."""

    bars = "1s"

    def __init__(self, below: str = "100", above: str = "50") -> None:
        self.below, self.above = Decimal(below), Decimal(above)
        self.seen: list[tuple[int, int, int, int]] = []  # ctx.t, and the quote's t, bid, ask
        self.got: list[Any] = []  # bars
        self.events: list[dict[str, Any]] = []

    def on_start(self, ctx: Any) -> None:
        price = ctx.last_quote(SYM)["ask"] - self.below
        ctx.order(SYM, "long", "limit", price, "10", qty="0.01", take_profit=price + self.above)

    def on_quote(self, ctx: Any, q: Any) -> None:
        self.seen.append((ctx.t, q.t, q.bid_units, q.ask_units))

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.got.append(bar)

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        self.events.append(ev)


class Background:
    """A LiveRunner's run() in a thread; `finish()` stops it and returns its Result."""

    def __init__(self, runner: LiveRunner) -> None:
        self.runner = runner
        self.result: LiveResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.runner.run()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def finish(self, timeout: float = 30.0) -> LiveResult:
        self.runner.stop()
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.result is not None, "the run did not end"
        return self.result


def wait_until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def serve_on(data_dir: Path, port: int, backpack_url: str, timeout: float = 60.0) -> Server:
    """`workbench serve` on `port` fed by a fake Backpack (no fallback prices meanwhile)."""
    args = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
            "--data-dir", str(data_dir), "--feed", "backpack", "--backpack-url", backpack_url,
            "--fallback-after", "3600"]  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"server-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WORKBENCH_REGISTER_LIMIT": "10000/600"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    srv = Server(proc, f"http://127.0.0.1:{port}", data_dir, log, args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{srv.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(srv.url + "/health", timeout=2).status_code == 200:
                return srv
        time.sleep(0.1)
    srv.stop()
    raise RuntimeError(f"server did not answer within {timeout} s:\n{srv.output()}")


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of `port`: `cut()` closes every connection,
    `block()` refuses new ones until `unblock()`, and `lose_answer(prefix)` forwards the
    next request starting with `prefix` and drops its answer (closing that connection),
    as a server killed right after it ran the request would."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.armed: bytes | None = None
        self.block_after_loss = False
        self.lost = threading.Event()
        self.listener: socket.socket | None = None
        self.unblock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def unblock(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def block(self) -> None:
        if self.listener is not None:  # shutdown wakes the thread blocked in accept()
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        self.cut()

    def cut(self) -> None:
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def lose_answer(self, prefix: bytes, then_block: bool = False) -> None:
        self.lost.clear()
        self.block_after_loss = then_block
        self.armed = prefix

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            flag = {"lose": False}
            threading.Thread(target=self._pump, args=(client, upstream, flag, True),
                             daemon=True).start()  # fmt: skip
            threading.Thread(target=self._pump, args=(upstream, client, flag, False),
                             daemon=True).start()  # fmt: skip

    def _pump(self, src: socket.socket, dst: socket.socket, flag: dict, up: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if up and self.armed is not None and data.startswith(self.armed):
                    self.armed = None
                    flag["lose"] = True
                elif not up and flag["lose"]:
                    if self.block_after_loss:
                        self.block()
                    self.lost.set()
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.block()
