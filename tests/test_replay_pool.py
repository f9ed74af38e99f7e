"""Replay workers without a browser: the pool's cap and queue, a worker's batches, its
commands, a seek back, and a worker killed with SIGKILL. Real processes (forked from
the pool's forkserver), real pipes."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server.cli import worker_count
from server.dashboard.player import export_tape, parquet_tape
from server.dashboard.replay_batches import merge
from server.dashboard.replay_pool import ReplayPool, ReplayWorker, WorkerGone
from server.dashboard.replay_worker import BATCH_S, EVENTS_PER_BATCH
from server.dashboard.trader import WorkerTrader
from workbench.engine import KEEP
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.reader import iter_quotes
from workbench.store.schema import connect

BRACKET = "bracket ±0.1 %, re-entered"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))


async def _worker(pool: ReplayPool) -> tuple[ReplayWorker, list[dict[str, Any]], list[str]]:
    w = await pool.acquire(lambda _n: None)
    batches: list[dict[str, Any]] = []
    exits: list[str] = []
    w.on_batch = batches.append
    w.on_exit = exits.append
    return w, batches, exits


async def _until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_plays_in_bounded_batches_trades_and_seeks_back() -> None:
    async def main() -> None:
        pool = ReplayPool(1)
        w, batches, exits = await _worker(pool)
        info = await w.request("load", {"kind": "simulated"}, BRACKET, "isolated", 0.0)
        assert info["quotes"] == 36_000 and info["symbols"] == ["SIM_BTC_USDC"], info
        await _until(lambda: batches, "the first batch")
        assert batches[0]["reset"] and batches[0]["pos"] == 0
        w.send("play", True)
        t0 = time.monotonic()
        end = await _until(lambda: next((b for b in batches if b["done"]), None), "the end")
        took = time.monotonic() - t0
        assert end["pos"] == 36_000 and not end["playing"]
        played = [b for b in batches[1:] if not b["commanded"]]
        # bounded: at most one batch per BATCH_S (and one more for the rounding)
        assert len(played) <= took / BATCH_S + 2, (len(played), took)
        assert all(len(b["events"]) <= EVENTS_PER_BATCH for b in batches)
        seen = sum(len(b["events"]) + b["skipped"] for b in batches)
        assert seen > 10  # the strategy traded (closed and re-entered)
        state = end["figures"]
        # a trade by hand answers with the engine's own event
        opened = await w.request("call", "open", ["replay", "SIM_BTC_USDC", "short", "5"],
                                 {"margin": "50"})  # fmt: skip
        assert opened["type"] == "opened" and opened["side"] == "short", opened
        bad = await w.request("call", "open", ["replay", "SIM_BTC_USDC", "up", "5"],
                              {"margin": "50"})  # fmt: skip
        assert bad["type"] == "rejected", bad
        # the page's WorkerTrader: the ticket's preview and a close, answered by the worker
        trader = WorkerTrader(lambda: w)
        pv = await trader.preview("replay", "SIM_BTC_USDC", side="long", leverage="10",
                                  margin="100")  # fmt: skip
        assert pv["ok"] and Decimal(pv["qty"]) > 0, pv
        # KEEP (a sentinel object) cannot cross a pipe: it is left out, the field kept
        moved = await trader.modify("replay", opened["ref"], take_profit=KEEP, stop_loss=KEEP,
                                    trailing_stop="50")  # fmt: skip
        assert moved["type"] == "modified" and Decimal(moved["trailing_stop"]) == 50, moved
        nobody = await WorkerTrader(lambda: None).preview("replay", "SIM_BTC_USDC", side="long",
                                                          leverage="10", margin="1")  # fmt: skip
        assert nobody == {"ok": False, "reason": "no_price",
                          "message": "load and play a replay first"}  # fmt: skip
        assert await w.request("call", "now", [], {}) == end["t"]
        # back to the middle and to the end again: the same state (the hand trade too)
        n = len(batches)
        w.send("seek", 0.5)
        mid = await _until(lambda: next((b for b in batches[n:] if b["reset"]), None), "a reset")
        assert mid["pos"] == 18_000
        n = len(batches)
        w.send("seek", 1.0)
        again = await _until(lambda: next((b for b in batches[n:] if b["pos"] == 36_000), None),
                             "the end again")  # fmt: skip
        assert again["positions"][-1]["ref"] == opened["ref"]
        assert Decimal(again["figures"]["balance"]) == Decimal(state["balance"])
        # Load again with the tape the worker holds: a fresh engine, no new read
        n = len(batches)
        info = await w.request("load", {"kind": "again"}, "none (trade by hand)", "cross", 1.0)
        assert info["quotes"] == 36_000, info
        fresh = await _until(lambda: next((b for b in batches[n:] if b["reset"]), None), "reset")
        assert fresh["pos"] == 0 and fresh["positions"] == []
        assert fresh["figures"]["margin_mode"] == "cross"
        await w.stop()
        assert exits == []  # a stop is not reported as a crash
        assert not w.proc.is_alive() and not w.dir.exists()

    run(main())


def test_the_cap_queues_the_next_page_and_a_killed_worker_frees_its_slot() -> None:
    async def main() -> None:
        pool = ReplayPool(1)
        first, _, exits = await _worker(pool)
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        await _until(lambda: os.getpriority(os.PRIO_PROCESS, first.pid) == ours + 10,
                     "the worker to lower its priority", 10)  # fmt: skip
        places: list[int] = []
        second = asyncio.create_task(pool.acquire(places.append))
        third_places: list[int] = []
        third = asyncio.create_task(pool.acquire(third_places.append))
        await asyncio.sleep(0.3)
        assert places == [0] and third_places == [1]
        assert not second.done() and len(pool.running) == 1
        third.cancel()  # a page that goes while it waits leaves the line
        await asyncio.sleep(0.1)
        assert len(pool.queue) == 1
        os.kill(first.pid, signal.SIGKILL)
        got = await asyncio.wait_for(second, 30)
        assert exits == ["the replay stopped: worker exited with signal 9 (SIGKILL)"]
        with pytest.raises(WorkerGone, match="signal 9"):
            await first.request("call", "now", [], {})
        assert len(pool.running) == 1 and got.pid != first.pid
        info = await got.request("load", {"kind": "simulated"}, BRACKET, "cross", 60.0)
        assert info["label"] == "SIMULATED"
        await pool.close()
        assert pool.running == set() and not got.proc.is_alive()
        assert pool._taken == 0

    run(main())


SERVING = """
import asyncio, sys
from server.dashboard.replay_pool import ReplayPool

async def main():
    w = await ReplayPool(1).acquire(lambda _n: None)
    await w.request("load", {"kind": "simulated"}, sys.argv[1], "isolated", 0.0)
    print(w.pid, flush=True)
    await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (a reaper may be slow to collect it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_worker_whose_server_goes_exits_on_its_own(tmp_path: Path) -> None:
    script = tmp_path / "serving.py"
    script.write_text(SERVING)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    server = subprocess.Popen([sys.executable, str(script), BRACKET], cwd=root, env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        pid = int(server.stdout.readline())
        assert not _gone(pid)
        time.sleep(1.5)
        assert not _gone(pid), "the worker lives while its server does"
        server.kill()  # as when the serving process dies: the kernel closes its pipes
        server.wait(10)
        deadline = time.monotonic() + 15
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), "the orphaned worker lives on"
    finally:
        server.kill()
        server.wait(10)


def test_a_tape_handed_over_as_parquet_is_the_stored_tape(tmp_path: Path) -> None:
    con = connect(tmp_path / "ticks.duckdb")
    SyntheticFeed(seed=5, gaps_per_hour=0).write(con, 3000)
    symbols = ["SIM_ETH_USDC", "SIM_BTC_USDC"]
    lo, hi = 1704067200_000000 + 10_000_000, 1704067200_000000 + 400_000_000
    assert export_tape(con, symbols, lo, hi, tmp_path / "t.parquet") > 1000
    tape = parquet_tape(tmp_path / "t.parquet", symbols)
    chunks = list(iter_quotes(con, symbols, lo, hi))
    for mine, col in ((tape.k, "sids"), (tape.t, "ts"), (tape.bid, "bids"), (tape.ask, "asks")):
        assert np.array_equal(mine, np.concatenate([getattr(c, col) for c in chunks]))
    assert export_tape(con, symbols, lo, hi, tmp_path / "few.parquet", limit=10) == 10
    assert len(parquet_tape(tmp_path / "few.parquet", symbols)) == 10


def test_merged_batches_keep_every_equity_point_and_the_newest_events() -> None:
    def batch(**kw: Any) -> dict[str, Any]:
        base = {"reset": False, "candles": None, "quote": None, "equity": [], "events": [],
                "skipped": 0, "commanded": False, "error": None, "pos": 0}  # fmt: skip
        return {**base, **kw}

    c1 = {"t": [1000, 2000], "open": [1, 2], "high": [1, 3], "low": [1, 2], "close": [1, 2]}
    c2 = {"t": [2000, 3000], "open": [2, 4], "high": [5, 4], "low": [2, 4], "close": [5, 4]}
    older = [{"type": "opened", "n": -i} for i in range(1, 31)]
    ev = [{"type": "opened", "n": i} for i in range(EVENTS_PER_BATCH)]
    m = merge(batch(candles=c1, equity=[(1, {})], events=older, pos=5, commanded=True),
              batch(candles=c2, equity=[(2, {})], events=ev, pos=9, skipped=3))  # fmt: skip
    assert m["candles"] == {"t": [1000, 2000, 3000], "open": [1, 2, 4], "high": [1, 5, 4],
                            "low": [1, 2, 4], "close": [1, 5, 4]}  # fmt: skip
    assert [p[0] for p in m["equity"]] == [1, 2] and m["pos"] == 9 and m["commanded"]
    assert m["events"] == ev and m["skipped"] == 3 + 30
    after_reset = merge(m, batch(reset=True, pos=1))
    assert after_reset["reset"] and after_reset["pos"] == 1 and after_reset["events"] == []


def test_a_page_that_leaves_while_its_worker_starts_frees_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = ReplayWorker.start

    def slow_start(self: ReplayWorker) -> None:  # a start that takes a while (a busy host)
        time.sleep(0.3)
        started(self)

    async def main() -> None:
        pool = ReplayPool(1)
        warm, _, _ = await _worker(pool)  # the forkserver is up
        await warm.stop()
        before = {p.pid for p in mp.active_children()}
        monkeypatch.setattr(ReplayWorker, "start", slow_start)
        leaving = asyncio.create_task(pool.acquire(lambda _n: None))
        await asyncio.sleep(0.1)  # inside the start (in a thread)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        await _until(lambda: pool._taken == 0, "the slot to come back", 30)
        await asyncio.sleep(1.0)  # a start under way has finished by now
        await _until(lambda: not [p for p in mp.active_children()
                                  if p.name == "workbench-replay" and p.pid not in before],
                     "the started worker to be stopped", 10)  # fmt: skip
        w, _, _ = await _worker(pool)  # the slot serves the next page at once
        await w.stop()

    run(main())


def test_replay_workers_is_a_count_from_1_to_64() -> None:
    assert worker_count("3") == 3
    for bad in ("0", "65", "two", "-1", ""):
        with pytest.raises(argparse.ArgumentTypeError, match=f"from 1 to 64, not {bad!r}"):
            worker_count(bad)
    with pytest.raises(ValueError, match="at least 1"):
        ReplayPool(0)
