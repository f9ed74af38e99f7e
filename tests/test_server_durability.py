"""Durability of a real server: kill -9 in the middle of a load run, restart, and find every
acknowledged order and the exact balances; `workbench simulate` of its journal prints the
events it served, byte for byte. The data directory is readable by its owner only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
from server_helpers import Market, Server, bearer, register, start_server, wait_price


def _trader(url: str, token: str, stop: threading.Event, acked: list[tuple[str, dict]]) -> None:
    """Open and close in a loop; remember every acknowledged answer."""
    with httpx.Client(base_url=url, timeout=10, headers=bearer(token)) as c:
        while not stop.is_set():
            try:
                r = c.post("/trade/create", json={"asset": "BTC", "side": "long",
                                                  "qty": "0.01", "leverage": "10"})  # fmt: skip
                if r.status_code != 201:
                    continue
                acked.append(("open", r.json()["order"]))
                r = c.post(f"/trade/close/{r.json()['orderId']}")
                if r.status_code == 200:
                    acked.append(("close", r.json()["order"]))
            except httpx.HTTPError:
                return  # the server is gone


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path, market: Market) -> None:
    data = tmp_path / "data"
    srv = start_server(data, feed="backpack", backpack_url=market.url)
    tokens: dict[str, str] = {}
    acked: dict[str, list[tuple[str, dict]]] = {}
    try:
        _load_then_kill(srv, market, tokens, acked)
    finally:
        srv.stop()  # no-op after the kill; stops it if the test failed before
    assert sum(len(a) for a in acked.values()) > 50, "the load ran"

    srv = start_server(data, feed="backpack", backpack_url=market.url)
    try:
        assert "recovered" in srv.output()
        with srv.client() as c:
            market.set("BTC_USDC", "60000", "60000.5")
            wait_price(c, "BTC_USDC", "60000")
            for email, tok in tokens.items():
                orders = {o["id"]: o for o in c.get("/trade/orders", headers=bearer(tok))
                          .json()["orders"]}  # fmt: skip
                for kind, order in acked[email]:
                    assert order["id"] in orders, f"acknowledged {kind} lost"
                    if kind == "close":
                        got = orders[order["id"]]
                        assert got["status"] == "closed" and got["pnl"] == order["pnl"]
                        assert got["closingPrice"] == order["closingPrice"]
                bal = c.get("/balance", headers=bearer(tok)).json()
                closed = [o for o in orders.values() if o["status"] == "closed"]
                expected = Decimal(5000) + sum((Decimal(o["pnl"]) for o in closed), Decimal(0))
                assert Decimal(bal["balance"]) == expected
                assert bal["open_positions"] == sum(o["status"] == "open" for o in orders.values())
    finally:
        assert srv.stop() == 0
    _journal_replays_to_the_served_events(data, tokens)


def _journal_replays_to_the_served_events(data: Path, tokens: dict[str, str]) -> None:
    """`workbench simulate data/journal` prints the stored events byte for byte, then the
    account states, which match what /balance served."""
    cmd = [sys.executable, "-m", "workbench.cli", "simulate", str(data / "journal")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    printed = res.stdout.splitlines()
    con = duckdb.connect(str(data / "accounts.duckdb"), read_only=True)
    stored = [r[0] for r in con.execute("SELECT body FROM events ORDER BY seq").fetchall()]
    seqs = [r[0] for r in con.execute("SELECT seq FROM events ORDER BY seq").fetchall()]
    con.close()
    assert seqs == list(range(1, len(seqs) + 1)), "no event is missing from the history"
    assert printed[: len(stored)] == stored
    states = [json.loads(x) for x in printed[len(stored) :]]
    assert len(states) == len(tokens) and all(s["type"] == "account_state" for s in states)
    assert all(s["open"] == [] or isinstance(s["open"], list) for s in states)


def _load_then_kill(
    srv: Server, market: Market, tokens: dict[str, str], acked: dict[str, list[tuple[str, dict]]]
) -> None:
    """Six traders open and close while prices move; kill -9 the server in the middle."""
    with srv.client() as c:
        market.set("BTC_USDC", "60000", "60000.5")  # once the server is subscribed
        wait_price(c, "BTC_USDC", "60000")
        for i in range(6):
            tokens[f"t{i}@example.com"] = register(c, f"t{i}@example.com")
    stop = threading.Event()
    acked.update({e: [] for e in tokens})
    threads = [threading.Thread(target=_trader, args=(srv.url, tok, stop, acked[e]))
               for e, tok in tokens.items()]  # fmt: skip
    for th in threads:
        th.start()
    moves = ["60010", "59990", "60020", "60005"]
    for i in range(12):  # prices move under the load, so closes have real pnl
        bid = moves[i % len(moves)]
        market.set("BTC_USDC", bid, str(Decimal(bid) + Decimal("0.5")))
        time.sleep(0.1)
    srv.kill9()  # in the middle of the load
    stop.set()
    for th in threads:
        th.join(10)


def _shared(data: Path) -> list[str]:
    """What in `data` (itself included) the group or others may read, write or enter."""
    return [f"{p} {stat.filemode(m)}" for p in [data, *sorted(data.rglob("*"))]
            if (m := os.lstat(p).st_mode) & 0o077 and not stat.S_ISLNK(m)]  # fmt: skip


def test_the_data_directory_is_private_to_its_owner(tmp_path: Path) -> None:
    """Emails, password hashes, the JWT secret and every order: 0700 directories and 0600
    files, DuckDB's .wal included, also for what was there before the start."""
    data = tmp_path / "data"
    (data / "journal").mkdir(parents=True, mode=0o755)
    old = data / "journal" / "notes.txt"
    old.write_text("left here by hand")
    old.chmod(0o644)
    srv = start_server(data)  # (its log file, data/server-*.log, is made 0644 before)
    try:
        with srv.client() as c:
            token = register(c, "p@example.com")
            assert c.post("/balance/deposit", headers=bearer(token),
                          json={"amount": "10"}).status_code < 500  # fmt: skip
        running = _shared(data)
        assert any(p.name.endswith(".wal") for p in data.iterdir()), "checked with a .wal"
    finally:
        assert srv.stop() == 0
    assert running == [], running
    assert _shared(data) == []
    names = {p.name for p in data.rglob("*")}
    assert {"accounts.duckdb", "jwt.secret", "journal", "snapshots"} <= names
