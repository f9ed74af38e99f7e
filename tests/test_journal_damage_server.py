"""A real `workbench serve` on a damaged journal: it refuses to start, in one line naming
the file, byte and record, and changes nothing; `--repair` sets the damage aside, says
what is lost and serves what is valid."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from server_helpers import bearer, free_port, register, start_server

from workbench.live.journal import segments


def _ten_orders(data: Path) -> tuple[str, list[str]]:
    """Register, open ten positions, then kill -9 (no snapshot: all in one segment)."""
    srv = start_server(data)
    try:
        with srv.client() as c:
            token = register(c, "a@example.com")
            deadline = time.monotonic() + 20
            while not any(p["symbol"] == "BTC_USDC" and p["bid"]
                          for p in c.get("/prices").json()["prices"]):  # fmt: skip
                assert time.monotonic() < deadline, "no price"
                time.sleep(0.05)
            ids = []
            order = {"asset": "BTC", "side": "long", "qty": "0.01", "leverage": "10"}
            for _ in range(10):
                r = c.post("/trade/create", headers=bearer(token), json=order)
                assert r.status_code == 201, r.text
                ids.append(r.json()["orderId"])
    finally:
        srv.kill9()
    return token, ids


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}  # fmt: skip


def test_a_garbage_line_stops_the_start_until_repair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token, ids = _ten_orders(data)
    seg = segments(data / "journal")[-1][1]
    lines = seg.read_bytes().splitlines(keepends=True)
    opens = [i for i, x in enumerate(lines) if b'"type": "open"' in x]
    at = opens[5]  # before the sixth acknowledged open
    seg.write_bytes(b"".join(lines[:at]) + b"garbage}\n" + b"".join(lines[at:]))
    offset = sum(len(x) for x in lines[:at])
    before = _tree(data / "journal")

    args = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(free_port()),
            "--data-dir", str(data), "--feed", "synthetic"]  # fmt: skip
    res = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr + res.stdout
    (line,) = [x for x in res.stderr.splitlines() if "journal damaged" in x]
    assert f"{seg} byte {offset} (record {at + 1})" in line and "--repair" in line
    assert _tree(data / "journal") == before, "a refused start changes nothing"

    srv = start_server(data, extra=["--repair"])
    try:
        out = srv.output()
        (aside,) = [p for p in (data / "journal").iterdir() if p.name.startswith("damaged-")]
        assert f"moved {seg} to {aside / seg.name}" in out
        assert f"lost {len(lines) - at + 1} journal record(s), {at + 1} to {len(lines) + 1}" in out
        assert "open x5" in out  # (the history may not have stored them all before the kill)
        assert "acknowledged command(s)" in out and "history-inputs.jsonl" in out
        assert (aside / seg.name).read_bytes() == before[seg.name]
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            orders = c.get("/trade/orders", headers=bearer(token)).json()["orders"]
        assert sorted(o["id"] for o in orders) == sorted(ids[:5])
    finally:
        assert srv.stop() == 0
