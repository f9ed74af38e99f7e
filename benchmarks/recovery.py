"""Restart after kill -9: 100,000 open positions and a journal tail of 100,000 inputs.

A child process builds the data directory with the library (not over HTTP): a
`LiveEngine` whose snapshot lands right after 1,000 accounts (uuid4 names, no server
users) have opened 100 positions each with TP/SL over 3 instruments; then 100,000 more
inputs (98,000 quotes moving within +-0.5 %, which triggers nothing, 1,000 closes and
1,000 opens), all durable; then the child is killed with SIGKILL (no final snapshot, no
clean close of the journal or of DuckDB). Each of 3 runs copies that crashed directory,
starts `workbench serve --feed synthetic` on it and times process start -> first 200
from GET /health. Also timed: the same start on an empty data directory (imports and
startup), the recovery steps in-process, and what one snapshot of 100k positions costs
the engine thread. The servers start as a server that has run before: Python's bytecode
cached (`PYTHONPYCACHEPREFIX`, in the temp dir; a first start that compiles is timed
apart). The last line is `ratio: <2 s target / median time to ready>`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _servers import ROOT, free_port  # noqa: E402

TARGET_S = 2.0
#: symbol -> (price, qty, tick in 1e-8 units)
MARKET = {"BTC_USDC": (60_000, "0.001", 10_000_000), "ETH_USDC": (2_500, "0.01", 1_000_000),
          "SOL_USDC": (150, "0.1", 1_000_000)}  # fmt: skip
PYCACHE = Path(tempfile.gettempdir()) / "workbench-bench-pycache"
RECOVERED = re.compile(r"recovered ([\d,]+) journal records in ([\d.]+) s "
                       r"\(snapshot (\S+) \+ ([\d,]+) replayed\)")  # fmt: skip


# ------------------------------------------------------------- the crashed directory
def build(data_dir: Path, accounts: int, per_account: int, tail: int) -> None:
    """In the child: set up, snapshot, journal the tail, say READY and wait for SIGKILL."""
    from workbench.feeds.backpack_client import now_us as wall_clock_us
    from workbench.live.host import LiveEngine
    from workbench.money import price_units

    symbols = list(MARKET)
    base = {s: price_units(str(MARKET[s][0])) for s in symbols}
    setup_inputs = len(symbols) + accounts + accounts * per_account
    now = wall_clock_us()
    # commands are stamped max(clock, engine time): with a clock standing still they take
    # the time of the latest quote, so no quote goes stale however long the setup takes
    live = LiveEngine(data_dir, clock=lambda: now, snapshot_every=setup_inputs,
                      snapshot_seconds=1e9)  # fmt: skip
    live.start()
    seq = live.sequencer
    assert seq is not None
    started = time.perf_counter()
    seq.put_quotes([(s, now, base[s], base[s] + MARKET[s][2]) for s in symbols])
    names = [str(uuid.uuid4()) for _ in range(accounts)]
    futs = [seq.submit({"type": "account", "account": n}) for n in names]
    refs: dict[str, list[str]] = {n: [] for n in names}

    def open_record(name: str, k: int) -> dict[str, Any]:
        sym = symbols[k % len(symbols)]
        price, qty, _tick = MARKET[sym]
        side = "long" if k % 2 == 0 else "short"
        up, down = str(round(price * 1.1, 2)), str(round(price * 0.9, 2))
        ref = str(uuid.uuid4())
        refs[name].append(ref)
        return {"type": "open", "account": name, "ref": ref, "symbol": sym, "side": side,
                "leverage": "10", "qty": qty, "take_profit": up if side == "long" else down,
                "stop_loss": down if side == "long" else up}  # fmt: skip

    for k in range(per_account):
        futs += [seq.submit(open_record(n, k)) for n in names]
    kinds = _settle(futs)
    setup_s = time.perf_counter() - started
    if seq.index != setup_inputs or any(k.startswith("rejected") for k in kinds):
        raise SystemExit(f"setup journaled {seq.index} inputs (expected {setup_inputs}): {kinds}")
    deadline = time.monotonic() + 120
    while seq.stats.snapshots < 1:  # the snapshot thread writes it
        if time.monotonic() > deadline:
            raise SystemExit("no snapshot was written after the setup")
        time.sleep(0.01)
    snap_s = time.perf_counter() - started - setup_s
    seq.snapshot_every = 10**12  # the tail stays in the journal, as after a crash

    started = time.perf_counter()
    rounds = 1000
    quotes_per_round = (tail - 2 * rounds) // rounds
    futs = []
    t = wall_clock_us()
    i = 0
    for r in range(rounds):
        batch = []
        for _ in range(quotes_per_round):
            sym = symbols[i % len(symbols)]
            tick = MARKET[sym][2]
            move = round(base[sym] * 0.005 * math.sin(i / 997) / tick) * tick
            batch.append((sym, t + i, base[sym] + move, base[sym] + move + tick))
            i += 1
        seq.put_quotes(batch)
        name = names[r % accounts]
        futs.append(seq.submit({"type": "close", "account": name, "ref": refs[name].pop(0)}))
        futs.append(seq.submit(open_record(name, r)))
    tail_kinds = _settle(futs)
    seq.query(lambda e: None).result()  # everything before it is durable
    tail_s = time.perf_counter() - started
    stats = {
        "setup_inputs": setup_inputs, "setup_s": setup_s, "snapshot_wait_s": snap_s,
        "snapshot_index": seq.stats.last_snapshot_index,
        "snapshot_thread_s": seq.stats.last_snapshot_s, "tail_inputs": seq.index - setup_inputs,
        "tail_s": tail_s, "index": seq.index, "durable_index": seq.durable_index,
        "open_positions": seq.engine.open_count, "tail_events": tail_kinds,
    }  # fmt: skip
    print("READY " + json.dumps(stats), flush=True)
    time.sleep(3600)  # killed here


def _settle(futs: list[Any]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for f in futs:
        for ev in f.result(timeout=600):
            kind = ev["type"] if ev["type"] != "rejected" else f"rejected: {ev.get('reason')}"
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def make_crashed(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run `build` in a child and kill -9 it once everything is durable."""
    cmd = [sys.executable, __file__, "--build", str(data_dir), "--accounts", str(args.accounts),
           "--per-account", str(args.per_account), "--tail", str(args.tail)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("READY "):
                stats: dict[str, Any] = json.loads(line[6:])
                break
        else:
            raise RuntimeError(f"the build exited with {proc.wait()} before READY")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    return stats


# ------------------------------------------------------------------ the server
def health(port: int, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET /health over a fresh connection: (status, body); raises OSError if refused."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head[9:12]), body


def time_to_ready(data_dir: Path, log: Path, timeout: float = 120.0) -> tuple[float, dict, str]:
    """Seconds from starting `workbench serve` to the first 200 of /health; the health
    body and the server's output. The server is killed (-9) afterwards either way."""
    port = free_port()
    cmd = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
           "--data-dir", str(data_dir), "--feed", "synthetic"]  # fmt: skip
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        while True:
            elapsed = time.perf_counter() - started
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n"
                                   f"{log.read_text(errors='replace')}")  # fmt: skip
            if elapsed > timeout:
                raise RuntimeError(f"no 200 from /health within {timeout} s")
            with contextlib.suppress(OSError, ValueError):
                status, body = health(port)
                if status == 200:  # timed at the answer: the socket is bound before the
                    # recovery, so a request waits in it until the server serves
                    ready = time.perf_counter() - started
                    return ready, json.loads(body), log.read_text(errors="replace")
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)


# -------------------------------------------------------------- in-process costs
def recovery_steps(data_dir: Path) -> dict[str, float]:
    """The recovery of the crashed directory step by step, and one snapshot's cost."""
    from workbench.engine import restore
    from workbench.engine.snapshot import encode, state_dict
    from workbench.live.journal import read_tail
    from workbench.live.recovery import apply_records
    from workbench.live.snapshots import SnapshotStore

    store = SnapshotStore(data_dir / "snapshots")
    index = store.indexes()[0]
    t0 = time.perf_counter()
    data = store.path(index).read_bytes()
    engine = restore(data)
    t1 = time.perf_counter()
    tail = read_tail(data_dir / "journal", index)
    t2 = time.perf_counter()
    apply_records(engine, tail.records)
    t3 = time.perf_counter()
    captures, encodes = [], []
    for _ in range(3):
        a = time.perf_counter()
        state = state_dict(engine)
        b = time.perf_counter()
        blob = encode(state)
        encodes.append(time.perf_counter() - b)
        captures.append(b - a)
    return {
        "restore": t1 - t0, "read": t2 - t1, "replay": t3 - t2, "records": len(tail.records),
        "positions": engine.open_count, "snapshot_bytes": len(data),
        "state_dict": statistics.median(captures), "encode": statistics.median(encodes),
        "encoded_bytes": len(blob),
    }  # fmt: skip


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--per-account", type=int, default=100, help="open positions per account")
    ap.add_argument("--tail", type=int, default=100_000, help="journal inputs after the snapshot")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        build(args.build, args.accounts, args.per_account, args.tail)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="recovery-"))
    try:
        crashed = tmp / "crashed"
        b = make_crashed(crashed, args)
        print(f"built: {b['setup_inputs']:,} inputs ({args.accounts:,} accounts x "
              f"{args.per_account} positions with TP/SL) in {b['setup_s']:.1f} s, snapshot at "
              f"record {b['snapshot_index']:,} ({b['snapshot_thread_s']:.2f} s on its thread); "
              f"tail {b['tail_inputs']:,} inputs in {b['tail_s']:.1f} s "
              f"({b['tail_events']}); killed -9 at record {b['durable_index']:,}")  # fmt: skip
        duck = sum(p.stat().st_size for p in crashed.glob("accounts.duckdb*"))
        print(f"data dir: {size_of(crashed) / 1e6:.0f} MB (journal "
              f"{size_of(crashed / 'journal') / 1e6:.0f} MB, snapshots "
              f"{size_of(crashed / 'snapshots') / 1e6:.0f} MB, accounts.duckdb and its WAL "
              f"{duck / 1e6:.0f} MB)")  # fmt: skip

        # a server that has run before: Python's bytecode cached (kept beside, in the temp
        # dir, between runs). Where it may not write it (PYTHONDONTWRITEBYTECODE), every
        # start compiles every module it imports: timed once here, not counted
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
        first, _, _ = time_to_ready(tmp / "first", tmp / "first.log")
        print(f"a first start, bytecode cache as it was in {os.environ['PYTHONPYCACHEPREFIX']}:"
              f" ready in {first:.2f} s (not counted)")  # fmt: skip
        empty = []
        for i in range(args.runs):
            secs, _, _ = time_to_ready(tmp / f"empty{i}", tmp / f"empty{i}.log")
            empty.append(secs)
        ready, lines = [], []
        for i in range(args.runs):
            run = tmp / f"run{i}"
            shutil.copytree(crashed, run)
            secs, h, out = time_to_ready(run, tmp / f"run{i}.log")
            m = RECOVERED.search(out)
            got = int(m.group(1).replace(",", "")) if m else None
            if got != b["index"] or h["engine"]["open_positions"] != b["open_positions"]:
                raise RuntimeError(f"recovered {got} records and {h['engine']['open_positions']}"
                                   f" positions, expected {b['index']} and "
                                   f"{b['open_positions']}:\n{out}")  # fmt: skip
            line = m.group(0) if m else ""
            ready.append(secs)
            lines.append((float(m.group(2)) if m else math.nan, line))
            print(f"run {i + 1}: ready in {secs:.2f} s; {line}")
            shutil.rmtree(run, ignore_errors=True)
        steps = recovery_steps(crashed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median(ready)
    med_empty = statistics.median(empty)
    med_rec = statistics.median(s for s, _ in lines)
    print(f"empty data dir: ready in {med_empty:.2f} s (median of {args.runs}: imports, "
          "DuckDB, app and feed startup)")  # fmt: skip
    print(f"recovery (server's own figure, median): {med_rec:.2f} s; the rest of the startup "
          f"beyond the empty one: {med - med_empty - med_rec:.2f} s")  # fmt: skip
    print(f"in-process steps: restore snapshot ({steps['positions']:,} positions, "
          f"{steps['snapshot_bytes'] / 1e6:.0f} MB) {steps['restore']:.2f} s, read journal tail "
          f"({steps['records']:,} records) {steps['read']:.2f} s, replay {steps['replay']:.2f} s "
          f"({steps['replay'] / steps['records'] * 1e6:.1f} µs/record)")  # fmt: skip
    print(f"one snapshot of {steps['positions']:,} positions: state_dict {steps['state_dict']:.3f}"
          f" s on the engine thread (inputs wait), encode {steps['encode']:.3f} s on the "
          f"snapshot thread (holds the GIL), {steps['encoded_bytes'] / 1e6:.0f} MB")  # fmt: skip
    print(f"time to ready after kill -9 (median of {args.runs}): {med:.2f} s "
          f"(target ≤ {TARGET_S:g} s)")  # fmt: skip
    print(f"ratio: {TARGET_S / med:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
