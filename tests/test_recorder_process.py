"""`workbench record` as a real process: SIGTERM flushes everything, and another process
(this test) reads the ticks from the live Parquet mirror while it records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from workbench.feeds.backpack import streams_for
from workbench.store.live import read_quotes, read_trades
from workbench.testing.backpack_frames import Frame, make_ticks
from workbench.testing.fake_backpack_thread import FakeBackpackThread
from workbench.testing.waiting import wait_until

SYMBOLS = ["BTC_USDC", "ETH_USDC", "SOL_USDC"]
STREAMS = streams_for(SYMBOLS, ["bookTicker", "trade"])


class Recording:
    """A `python -m workbench.cli record` process and the lines it printed so far."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def status_says(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


@contextmanager
def record(tmp_path: Path, url: str, *extra: str) -> Iterator[Recording]:
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "record",
        "--symbols",
        ",".join(SYMBOLS),
        "--url",
        url,
        "--db",
        str(tmp_path / "ticks.duckdb"),
        "--parquet-dir",
        str(tmp_path / "parquet"),
        "--status-every",
        "0.05",
        "--ping-interval",
        "1",
        "--ping-timeout",
        "1",
        *extra,
    ]
    stderr = open(tmp_path / "stderr.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield Recording(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        stderr.close()


def expected_quotes(frames: list[Frame]) -> list[tuple[object, ...]]:
    return sorted(
        (
            d["s"],
            int(d["u"]),
            d["T"],
            d["E"],
            Decimal(d["b"]),
            Decimal(d["a"]),
            Decimal(d["B"]),
            Decimal(d["A"]),
        )
        for f in frames
        if (d := f.data)["e"] == "bookTicker"
    )


def live_quotes(root: Path) -> list[tuple[object, ...]]:
    return sorted(
        (
            r["symbol"],
            r["update_id"],
            r["t"],
            r["e"],
            r["bid"],
            r["ask"],
            r["bid_qty"],
            r["ask_qty"],
        )
        for r in read_quotes(root, backend="arrow").to_pylist()
    )


def test_sigterm_commits_every_received_tick(tmp_path: Path) -> None:
    frames = make_ticks(SYMBOLS, 30)
    with (
        FakeBackpackThread() as fake,
        record(tmp_path, fake.url, "--flush-interval", "60", "--parquet-every", "60") as rec,
    ):
        fake.wait_subscribed(STREAMS, timeout=20)
        for f in frames:
            fake.publish(f)
        wait_until(
            lambda: rec.status_says(f"ticks={len(frames)} "),
            timeout=10,
            what="the recorder to report every tick",
        )
        assert not (tmp_path / "parquet").exists()  # nothing committed yet: 60 s interval
        assert rec.terminate() == 0
    con = duckdb.connect(str(tmp_path / "ticks.duckdb"), read_only=True)
    stored = sorted(
        con.execute(
            "SELECT symbol, update_id, t, e, bid, ask, bid_qty, ask_qty FROM quotes"
        ).fetchall()
    )
    n_trades = con.execute("SELECT count(*) FROM trades").fetchone()
    con.close()
    assert stored == expected_quotes(frames)
    assert n_trades == (sum(1 for f in frames if f.stream.startswith("trade.")),)
    assert live_quotes(tmp_path / "parquet") == stored  # the last Parquet roll happened too


def test_another_process_reads_ticks_while_recording(tmp_path: Path) -> None:
    frames = make_ticks(SYMBOLS, 40)
    first, second = frames[:60], frames[60:]
    root = tmp_path / "parquet"
    with (
        FakeBackpackThread() as fake,
        record(tmp_path, fake.url, "--flush-interval", "0.1", "--parquet-every", "0.2") as rec,
    ):
        fake.wait_subscribed(STREAMS, timeout=20)
        for f in first:
            fake.publish(f)
        want = expected_quotes(first)
        wait_until(
            lambda: live_quotes(root) == want,
            timeout=10,
            interval=0.05,
            what="the first ticks in the Parquet mirror",
        )
        assert rec.proc.poll() is None  # read while the recorder runs ...
        with pytest.raises(duckdb.IOException):  # ... which holds the DuckDB file
            duckdb.connect(str(tmp_path / "ticks.duckdb"), read_only=True)
        for f in second:
            fake.publish(f)
        want = expected_quotes(frames)
        wait_until(
            lambda: live_quotes(root) == want,
            timeout=10,
            interval=0.05,
            what="all ticks in the Parquet mirror",
        )
        sol = read_trades(root, ["SOL_USDC"], backend="arrow")
        assert set(sol.column("symbol").to_pylist()) == {"SOL_USDC"}
        assert sol.num_rows == sum(1 for f in frames if f.stream == "trade.SOL_USDC")
        assert rec.proc.poll() is None
        assert rec.terminate() == 0
