"""A real `workbench serve` in a subprocess on 127.0.0.1, and a fake Backpack to feed it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from workbench.feeds.backpack_client import now_us
from workbench.testing.backpack_frames import book_ticker_frame
from workbench.testing.fake_backpack_thread import FakeBackpackThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path
    args: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kw)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:  # say where it hangs (faulthandler), then kill
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(1)
                self.proc.kill()
                self.proc.wait(10)
                print(f"server did not stop within 30 s of Ctrl-C; its log:\n{self.output()}")
        return int(self.proc.returncode)


def start_server(
    data_dir: Path, *, feed: str = "synthetic", backpack_url: str | None = None,
    extra: list[str] | None = None, env: dict[str, str] | None = None, timeout: float = 60.0,
    port: int | None = None,
) -> Server:  # fmt: skip
    """Start `workbench serve` (on `port`, or a free one) and wait until /health answers."""
    port = port or free_port()
    args = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
            "--data-dir", str(data_dir), "--feed", feed, *(extra or [])]  # fmt: skip
    if backpack_url:
        args += ["--backpack-url", backpack_url]
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"server-{port}.log"
    # tests register many users from 127.0.0.1: a generous registration limit unless given
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "WORKBENCH_REGISTER_LIMIT": "10000/600",
                **(env or {})}  # fmt: skip
    with open(log, "ab") as out:  # a restart on the same port keeps the earlier log
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    srv = Server(proc, f"http://127.0.0.1:{port}", data_dir, log, args)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{srv.output()}")
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(srv.url + "/health", timeout=2)
            # the dashboards are mounted a moment after the API answers
            if r.status_code == 200 and (r.json().get("dashboard") or {"ready": True})["ready"]:
                return srv
        time.sleep(0.1)
    srv.stop()
    raise RuntimeError(f"server did not answer within {timeout} s:\n{srv.output()}")


@contextlib.contextmanager
def running_server(data_dir: Path, **kw: Any) -> Iterator[Server]:
    srv = start_server(data_dir, **kw)
    try:
        yield srv
    finally:
        srv.stop()


class Market:
    """A fake Backpack with quotes stamped now; `set(symbol, bid, ask)` publishes one."""

    def __init__(self) -> None:
        self.fake = FakeBackpackThread()
        self.update = 0

    @property
    def url(self) -> str:
        return self.fake.url

    def set(self, symbol: str, bid: str, ask: str) -> int:
        self.update += 1
        t = now_us()
        self.fake.publish(book_ticker_frame(symbol, bid=bid, ask=ask, bid_qty="1", ask_qty="1",
                                            update_id=self.update, t=t))  # fmt: skip
        return t

    def stop(self) -> None:
        self.fake.stop()


def register(c: httpx.Client, email: str, password: str = "correct horse 1", **kw: Any) -> str:
    """Register and return the token (the client keeps the cookie too)."""
    r = c.post("/auth/register", json={"name": email.split("@")[0], "email": email,
                                       "password": password, **kw})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_price(c: httpx.Client, symbol: str, bid: str, timeout: float = 20.0) -> None:
    """Until the server's last `symbol` quote has this bid."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for p in c.get("/prices").json()["prices"]:
            if p["symbol"] == symbol:
                last = p
                if p["bid"] is not None and float(p["bid"]) == float(bid):
                    return
        time.sleep(0.05)
    raise AssertionError(f"{symbol} bid never became {bid}; last {last}")
