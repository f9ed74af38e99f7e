"""The serving process keeps its share: the event loop answers while the engine replays at
full speed with dashboard pages open, and `/health` says how late the loop runs."""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from server_helpers import Server, running_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.dashboard.sessions import COOKIE
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.schema import connect as connect_ticks

SPEC = "replay:SIM_BTC_USDC,SIM_ETH_USDC,SIM_SOL_USDC"


def test_health_reports_how_late_the_event_loop_runs(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as srv:
        deadline = time.monotonic() + 30
        while True:
            loop = httpx.get(srv.url + "/health", timeout=10).json()["event_loop"]["lag_ms"]
            if loop["samples"] >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert loop["samples"] >= 5 and loop["window_s"] == 60 and loop["interval_ms"] == 100
    assert 0 <= loop["p50_ms"] <= loop["p99_ms"] <= loop["max_ms"]
    assert loop["ticks"] >= loop["samples"]
    late = loop["late"]
    assert list(late) == ["over_50", "over_100", "over_250", "over_1000"]
    assert loop["ticks"] >= late["over_50"] >= late["over_100"] >= late["over_250"] >= 0


@contextlib.contextmanager
def _sessions(srv: Server, n: int) -> Iterator[None]:
    """n dashboard sessions held open by sockets that read every message (in threads)."""

    def read(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            while True:
                ws.recv()

    with contextlib.ExitStack() as socks:
        for _ in range(n):
            page = httpx.get(srv.url + "/dashboard", timeout=60)
            token = re.search(r'"token":\s*"([^"]+)"', page.text)
            assert token, f"no session token in the page: {page.status_code} {page.text[:300]}"
            ws = socks.enter_context(connect(
                srv.url.replace("http://", "ws://") + "/dashboard/ws",
                subprotocols=["bokeh", token.group(1)],  # type: ignore[list-item]
                origin=srv.url, open_timeout=30, ping_interval=None, max_size=None,
                additional_headers={"Cookie": f"{COOKIE}={page.cookies[COOKIE]}"},
            ))  # fmt: skip
            threading.Thread(target=read, args=(ws,), daemon=True).start()
        yield


def test_health_answers_during_a_full_speed_replay_with_pages_open(tmp_path: Path) -> None:
    """The replay gives the event loop its turns and the pages' producer folds on the
    commit thread: before, each batch of quotes queued work on the loop faster than it
    could run it, and /health (as every page and API call) waited seconds, more and more."""
    data = tmp_path / "data"
    data.mkdir()
    con = connect_ticks(data / "workbench.duckdb")
    SyntheticFeed(seed=4, gaps_per_hour=0).write(con, 2_000_000)  # 8-20 s at full speed
    con.close()
    extra = ["--speed", "0", "--replay-delay", "15"]  # the pages open first (on a fast
    # machine the replay is over in 10 s; on a loaded one it starts while they open)
    with (
        running_server(data, feed=SPEC, extra=extra) as srv,
        _sessions(srv, 8),
        httpx.Client(base_url=srv.url, timeout=60) as c,
    ):
        deadline = time.monotonic() + 60
        while (said := c.get("/health").json()["feed"]["message"]) != "replaying":
            assert said.startswith("replay starts") and time.monotonic() < deadline, said
            time.sleep(0.1)
        time.sleep(1)  # under way
        waits = []
        while len(waits) < 12:
            began = time.monotonic()
            health = c.get("/health").json()
            if health["feed"]["message"] != "replaying":
                break  # over (a fast machine): what was measured during it counts
            waits.append(time.monotonic() - began)
            time.sleep(0.25)
        assert len(waits) >= 6, f"the replay ended after {len(waits)} answers: make it longer"
        assert health["dashboard"]["sessions"] >= 8
    assert statistics.median(waits) < 0.5 and max(waits) < 1.5, [round(w, 2) for w in waits]
