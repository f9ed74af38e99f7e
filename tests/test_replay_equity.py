"""The replay's equity curve keeps its dips: a worker (in this process, on a real pipe and
a real engine) samples the account at every fill and margin call and on a grid of tape
time, so a tape played at full speed in one step still shows the dip that made a margin
call, and a seek back rebuilds the curve up to the seek point. Thinning keeps the dips."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np

from server.dashboard.replay_worker import EQUITY_PER_BATCH, Worker
from server.dashboard.sampling import thin

T0 = 1_700_000_000_000_000
N = 3600  # an hour, one quote a second


def _dip_tape() -> dict[str, Any]:
    """BTC_USDC flat at 60000 / 60000.5 but for a V down to 57500 and back at 30 min."""
    bid = np.full(N, 60_000, dtype=np.int64)
    for s in range(1800, 1841):
        bid[s] = 60_000 - 2_500 * (20 - abs(s - 1820)) // 20
    return {"t": T0 + np.arange(N, dtype=np.int64) * 1_000_000, "bid": bid * 10**8}


def _worker(tmp: Any) -> Worker:
    from server.dashboard.player import Tape

    tape = _dip_tape()
    ours, theirs = mp.Pipe()
    w = Worker(theirs)
    w.page_end = ours  # type: ignore[attr-defined]  # (kept open: the worker answers into it)
    w.handle(("load", 1, {"kind": "simulated"}, "none (trade by hand)", "cross", 0.0))
    w.player.tape = Tape(("BTC_USDC",), np.zeros(N, dtype=np.int64), tape["t"], tape["bid"],
                         tape["bid"] + 50_000_000, "RECORDED")  # fmt: skip
    w.handle(("load", 2, {"kind": "again"}, "none (trade by hand)", "cross", 0.0))
    return w


def _batches(w: Worker) -> list[dict[str, Any]]:
    out = []
    while True:
        w._play()
        out.append(w._batch())
        w._clear()
        if w.player is None or w.player.done:
            return out


def test_a_full_speed_replay_keeps_the_dip_of_its_margin_call(tmp_path: Any) -> None:
    w = _worker(tmp_path)
    w.handle(("seek", 2 / N))  # a first price to trade at
    w._clear()
    opened = w._call("open", ["replay", "BTC_USDC", "long", "50"], {"margin": "2000"})
    assert opened["type"] == "opened", opened
    w.handle(("play", True))  # speed 0: as fast as possible, the whole hour in one step
    batches = _batches(w)
    assert len(batches) <= 2
    points = [p for b in batches for p in b["equity"]]
    events = [e["type"] for b in batches for e in b["events"]]
    assert "margin_call" in events
    lowest = min(points, key=lambda p: p[1]["equity"])
    levels = [p[1]["margin_level"] for p in points if p[1]["margin_level"] is not None]
    # at the bottom (57500): 1.6666 BTC down 2500.5 from the entry, equity about 833 and a
    # margin level of 42 %; the curve has points (a grid of 2.4 s) below the margin call's
    # 60 % (equity 1200) around it
    assert lowest[1]["equity"] < 1100 and min(levels) < 55, (lowest, min(levels))
    assert abs(lowest[0] - (T0 / 1000 + 1_820_000)) <= 20_000  # at the bottom, in tape time
    assert points[-1][1]["equity"] > 4900  # and back up at the end
    assert 100 < len(points) <= EQUITY_PER_BATCH * len(batches)  # grid points, thinned
    ts = [p[0] for p in points]
    assert ts == sorted(ts)
    # the chart's candles too: every one of the hour (15 s each), the dip's among them
    starts = {t for b in batches if b["candles"] for t in b["candles"]["t"]}
    assert len(starts) >= N // 15, len(starts)
    assert min(lo for b in batches if b["candles"] for lo in b["candles"]["low"]) < 57_600


def test_a_seek_back_rebuilds_the_curve_up_to_the_seek_point(tmp_path: Any) -> None:
    w = _worker(tmp_path)
    w.handle(("seek", 2 / N))
    w._call("open", ["replay", "BTC_USDC", "long", "50"], {"margin": "2000"})
    w.handle(("play", True))
    _batches(w)
    w.handle(("seek", 0.6))  # back: replayed from the start, the trade by hand too
    b = w._batch()
    assert b["reset"] and b["pos"] == int(0.6 * N)
    ts = [p[0] for p in b["equity"]]
    assert len(ts) > 100 and ts == sorted(ts)
    assert ts[0] < T0 / 1000 + 60_000 and ts[-1] == (T0 + (b["pos"] - 1) * 1_000_000) / 1000
    assert min(p[1]["equity"] for p in b["equity"]) < 1100  # the dip, rebuilt
    assert "margin_call" in [e["type"] for e in b["events"]]


def test_thinning_keeps_the_lowest_equity_and_margin_level() -> None:
    pts = [(float(i), {"equity": 5000.0 + (i % 7), "margin_level": 300.0}) for i in range(5000)]
    pts[1234] = (1234.0, {"equity": 100.0, "margin_level": 300.0})
    pts[4321] = (4321.0, {"equity": 5001.0, "margin_level": 42.0})
    pts[10] = (10.0, {"equity": 5001.0, "margin_level": None})
    few = thin(pts, 600)
    assert len(few) <= 600 and few[-1] == pts[-1]
    assert pts[1234] in few and pts[4321] in few
    assert [p[0] for p in few] == sorted(p[0] for p in few)
    assert thin(pts[:50], 600) == pts[:50]
