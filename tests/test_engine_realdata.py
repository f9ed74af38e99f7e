"""Real Binance bookTicker captures through `workbench simulate` and the engine, end to end."""

from __future__ import annotations

import contextlib
import gzip
import heapq
import io
import json
import math
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.engine import BadQuote, Engine, restore, snapshot
from workbench.engine.snapshot import state_dict
from workbench.importers.hftbacktest import read_capture
from workbench.scenario import parse_line, write_states
from workbench.ticks import Quote

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-spot-2024-08-08"
ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("BTCUSDT", "ETHUSDT")
ACCOUNTS = [
    {"account": "iso0", "margin_mode": "isolated", "balance": "5000"},
    {"account": "iso5", "margin_mode": "isolated", "balance": "5000", "maintenance_rate": "0.05"},
    {"account": "crossA", "margin_mode": "cross", "balance": "1500"},
    {
        "account": "crossB",
        "margin_mode": "cross",
        "balance": "800",
        "margin_call_level": "120",
        "stop_out_level": "90",
    },
]
MODES = {a["account"]: a["margin_mode"] for a in ACCOUNTS}
pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ the data
def book_tickers(path: Path) -> list[tuple[int, str, str, str]]:
    """(t, symbol, bid, ask) of the bookTicker frames of a capture, read by the importer.

    bookTicker frames carry no exchange time, so t is the receive time in µs.
    """
    return [
        (q.t, q.symbol, str(q.bid), str(q.ask)) for q in read_capture(path) if isinstance(q, Quote)
    ]


def local_book_tickers(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """An independent, minimal reading of the same frames: `<recv ns> <frame JSON>` lines."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            ns, _, frame = line.partition(" ")
            if "@bookTicker" not in frame[:40]:
                continue
            d = json.loads(frame)["data"]
            yield int(ns) // 1000, d["s"], d["b"], d["a"]


def load_quotes(*days: str) -> list[tuple[int, str, str, str]]:
    """The BTCUSDT and ETHUSDT quotes of the given days, merged in time order."""
    streams = [book_tickers(DATA / f"{s.lower()}_{d}.ws.gz") for d in days for s in SYMBOLS]
    return list(heapq.merge(*streams, key=lambda q: q[0]))


def build_scenario(quotes: list[tuple[int, str, str, str]], seed: int) -> list[str]:
    """Scenario lines: the quotes, and every 120 quotes a random order, close or deposit."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    t0 = quotes[0][0]
    for sym, comm in zip(SYMBOLS, ("0.0002", "0"), strict=True):
        rows.append(
            {
                "t": t0,
                "type": "instrument",
                "symbol": sym,
                "tick_size": "0.01",
                "max_leverage": "1000",
                "commission_rate": comm,
            }
        )
    for a in ACCOUNTS:
        rows.append({"t": t0, "type": "account", **a})
    last: dict[str, tuple[Decimal, Decimal]] = {}
    refs: dict[str, list[str]] = {a["account"]: [] for a in ACCOUNTS}
    cent = Decimal("0.01")
    for k, (t, sym, bid, ask) in enumerate(quotes):
        rows.append({"t": t, "type": "quote", "symbol": sym, "bid": bid, "ask": ask})
        last[sym] = (Decimal(bid), Decimal(ask))
        if k % 120 != 119:
            continue
        name = rng.choice(list(refs))
        action = rng.random()
        if action < 0.72:
            isolated = MODES[name] == "isolated"
            side = rng.choice(("long", "short"))
            b, a = last[sym]
            close = b if side == "long" else a
            n = len(rows)
            rec: dict[str, Any] = {
                "t": t,
                "type": "open",
                "account": name,
                "ref": f"o{n}",
                "symbol": sym,
                "side": side,
                "leverage": str(
                    rng.choice((100, 300, 500, 1000) if isolated else (200, 500, 1000))
                ),
            }
            if rng.random() < 0.8:
                rec["margin"] = str(rng.randint(10, 60) if isolated else rng.randint(50, 300))
            else:
                rec["qty"] = str(
                    (Decimal(rng.randint(2000, 60000)) / close).quantize(Decimal("0.00001"))
                )
            sign = 1 if side == "long" else -1
            if rng.random() < (0.6 if isolated else 0.4):
                rec["take_profit"] = str(
                    (close * (1 + sign * Decimal(rng.randint(2, 20)) / 10_000)).quantize(cent)
                )
            if rng.random() < (0.6 if isolated else 0.15):
                rec["stop_loss"] = str(
                    (close * (1 - sign * Decimal(rng.randint(2, 20)) / 10_000)).quantize(cent)
                )
            refs[name].append(rec["ref"])
            rows.append(rec)
        elif action < 0.92 and refs[name]:
            rows.append({"t": t, "type": "close", "account": name, "ref": rng.choice(refs[name])})
        else:
            rows.append(
                {"t": t, "type": "deposit", "account": name, "amount": str(rng.randint(50, 500))}
            )
    rows.append({"t": quotes[len(quotes) // 2][0], "type": "reset", "account": "iso5"})
    rows.sort(key=lambda r: r["t"])  # stable: the reset goes after the inputs of its instant
    return [json.dumps(r) for r in rows]


# --------------------------------------------------------------- the checks
def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def check_output(lines: list[dict[str, Any]]) -> Counter[str]:
    """Seq and time order, and the money: the events alone give each final balance."""
    ledger = {a["account"]: Decimal(a["balance"]) for a in ACCOUNTS}
    margins: dict[tuple[str, str], Decimal] = {}
    kinds: Counter[str] = Counter()
    t = -1
    for k, ev in enumerate(lines, start=1):
        assert ev["seq"] == k and ev["t"] >= t, ev
        t = ev["t"]
        name, kind = ev.get("account"), ev["type"]
        kinds[kind if kind != "closed" else "closed_" + ev["reason"]] += 1
        if kind == "opened":
            ledger[name] -= Decimal(ev["fee"])
            margins[(name, ev["ref"])] = Decimal(ev["margin"])
        elif kind == "closed":
            net = Decimal(ev["pnl"]) - Decimal(ev["fee"])
            if MODES[name] == "isolated":  # an isolated close loses at most the margin
                assert net >= -margins[(name, ev["ref"])], ev
            ledger[name] += net + Decimal(ev.get("written_off", "0"))
        elif kind in ("deposit", "swap"):
            sign = 1 if kind == "deposit" else -1
            ledger[name] += sign * Decimal(ev["amount"]) + Decimal(ev.get("written_off", "0"))
        elif kind == "reset":
            ledger[name] = Decimal(next(a["balance"] for a in ACCOUNTS if a["account"] == name))
        if kind == "account_state":
            assert Decimal(ev["balance"]) == ledger[name], (name, ev["balance"], ledger[name])
            check_state(ev)
        elif "balance" in ev:
            assert ledger[name] == Decimal(ev["balance"]), ev
        if name is not None and MODES[name] == "isolated":
            assert ledger[name] >= 0, ("negative isolated balance", ev)
    return kinds


def check_state(st: dict[str, Any]) -> None:
    """The closing figures follow from the open positions they list."""
    isolated = MODES[st["account"]] == "isolated"
    used = sum((Decimal(p["margin"]) for p in st["open"]), Decimal(0))
    upnl = sum(
        (
            max(Decimal(p["upnl"]), -Decimal(p["margin"])) if isolated else Decimal(p["upnl"])
            for p in st["open"]
        ),
        Decimal(0),
    )
    assert Decimal(st["used_margin"]) == used
    assert Decimal(st["equity"]) == Decimal(st["balance"]) + upnl
    assert Decimal(st["free_margin"]) == Decimal(st["equity"]) - used
    if used:
        level = (Decimal(st["equity"]) * 100 / used).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert st["margin_level"] == f"{level:.2f}"
    else:
        assert st["margin_level"] is None
    if isolated:
        assert Decimal(st["balance"]) >= 0


def in_margin_call(eng: Engine) -> bool:
    return any(a.mode == "cross" and a.positions and not a.armed for a in eng.accounts)


def run_in_process(
    records: list[dict[str, Any]], snap_at: set[int]
) -> tuple[Engine, list[dict[str, Any]], dict[int, tuple[bytes, int]]]:
    """Apply the records as `workbench simulate` does. Snapshots after the inputs in snap_at,
    and after the first input past the first third that leaves a cross account in margin call."""
    eng = Engine()
    events: list[dict[str, Any]] = []
    eng.subscribe(events.append)
    snaps: dict[int, tuple[bytes, int]] = {}
    hot = False
    for k, rec in enumerate(records):
        with contextlib.suppress(BadQuote):
            eng.apply(rec)
        if k in snap_at or (not hot and k > len(records) // 3 and in_margin_call(eng)):
            hot = hot or k not in snap_at
            snaps[k] = (snapshot(eng), len(events))
    return eng, events, snaps


def first_triggers(
    records: list[dict[str, Any]], events: list[dict[str, Any]]
) -> dict[str, tuple[int, str, Decimal] | None]:
    """Brute force over the real quotes: for each opened position, the first quote after its
    open at which a trigger condition holds, as (t, reason, fill price), or None."""
    rows: dict[str, list[tuple[int, int, int, int]]] = {s: [] for s in SYMBOLS}
    orders: dict[str, tuple[int, dict[str, Any]]] = {}
    for k, rec in enumerate(records):
        if rec["type"] == "quote":
            bid, ask = (int(Decimal(rec[x]) * 100) for x in ("bid", "ask"))
            rows[rec["symbol"]].append((k, rec["t"], bid, ask))
        elif rec["type"] == "open":
            orders[rec["ref"]] = (k, rec)
    arr = {s: np.array(v, dtype=np.int64) for s, v in rows.items()}
    mr = {a["account"]: Fraction(a.get("maintenance_rate", "0")) for a in ACCOUNTS}
    out: dict[str, tuple[int, str, Decimal] | None] = {}
    for ev in events:
        if ev["type"] != "opened":
            continue
        k, rec = orders[ev["ref"]]
        q = arr[ev["symbol"]]
        start = int(np.searchsorted(q[:, 0], k))  # the first quote after the open
        assert (q[start - 1, 3] if ev["side"] == "long" else q[start - 1, 2]) == int(
            Decimal(ev["price"]) * 100
        ), ("opened away from the last quote", ev)
        long = ev["side"] == "long"
        p = q[start:, 2] if long else q[start:, 3]
        sign = 1 if long else -1
        conds = []
        if MODES[ev["account"]] == "isolated":  # margin + upnl <= rate * margin, in cents
            dist = (1 - mr[ev["account"]]) * Fraction(ev["margin"]) * 100 / Fraction(ev["qty"])
            edge = Fraction(ev["price"]) * 100 - sign * dist
            conds.append(("liquidation", p <= math.floor(edge) if long else p >= math.ceil(edge)))
        if "stop_loss" in rec:
            sl = int(Decimal(rec["stop_loss"]) * 100)
            conds.append(("stop_loss", p <= sl if long else p >= sl))
        if "take_profit" in rec:
            tp = int(Decimal(rec["take_profit"]) * 100)
            conds.append(("take_profit", p >= tp if long else p <= tp))
        hits = [(int(np.argmax(c)), r) for r, c in conds if c.any()]
        if not hits:
            out[ev["ref"]] = None
            continue
        i = min(h[0] for h in hits)
        reason = next(r for h, r in hits if h == i)  # liquidation, then stop loss, then TP
        out[ev["ref"]] = (int(q[start + i, 1]), reason, Decimal(int(p[i])) / 100)
    return out


# ----------------------------------------------------------------- the tests
@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], int]:
    quotes = load_quotes("20240808", "20240809")
    assert len(quotes) == 28_040 + 24_077 + 45_134 + 34_681
    lines = build_scenario(quotes, seed=808)
    path = tmp_path_factory.mktemp("real") / "binance-20240808-09.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines, len(quotes)


@pytest.fixture(scope="module")
def simulated(scenario: tuple[Path, list[str], int]) -> str:
    res = simulate(str(scenario[0]))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr == "", res.stderr[-2000:]
    return res.stdout


@pytest.mark.real_data
def test_importer_reads_every_book_ticker_in_time_order() -> None:
    """The importer's quotes equal a minimal independent reading; sane prices, time never back."""
    path = DATA / "btcusdt_20240808.ws.gz"
    qs = book_tickers(path)
    assert len(qs) == 28_040
    assert qs == [
        (t, s, str(Decimal(b)), str(Decimal(a))) for t, s, b, a in local_book_tickers(path)
    ]
    assert qs[0] == (1723161254087891, "BTCUSDT", "61837.63000000", "61837.64000000")
    assert all(a[0] <= b[0] for a, b in zip(qs, qs[1:], strict=False))
    assert all(0 < Decimal(q[2]) <= Decimal(q[3]) for q in qs[::97])


@pytest.mark.real_data
def test_simulate_on_real_quotes_reconciles_and_is_byte_identical(
    scenario: tuple[Path, list[str], int], simulated: str, tmp_path: Path
) -> None:
    """>130k real quotes with leveraged orders: every kind of close happens, money adds up,
    and a second run (to --out) writes the same bytes."""
    path, lines, n_quotes = scenario
    out = tmp_path / "second.jsonl"
    second = simulate(str(path), "--out", str(out))
    assert second.returncode == 0, second.stderr[-2000:]
    assert out.read_bytes() == simulated.encode(), "two runs of one file differ"
    events = [json.loads(x) for x in simulated.splitlines()]
    kinds = check_output(events)
    assert kinds["account_state"] == len(ACCOUNTS)
    assert kinds["opened"] > 150, kinds
    for kind in (
        "closed_liquidation",
        "closed_stop_loss",
        "closed_take_profit",
        "closed_stop_out",
        "closed_manual",
        "closed_reset",
        "margin_call",
        "deposit",
    ):
        assert kinds[kind] > 0, (kind, kinds)
    liq_by = Counter(e["account"] for e in events if e.get("reason") == "liquidation")
    assert liq_by["iso0"] and liq_by["iso5"], liq_by
    assert n_quotes >= 50_000


@pytest.mark.real_data
def test_real_quotes_close_each_position_at_its_first_trigger(
    scenario: tuple[Path, list[str], int], simulated: str
) -> None:
    """The trigger index against a brute-force scan of the real quotes: a position closes by
    TP, SL or liquidation exactly at the first quote that meets a condition, at that quote's
    closing-side price, with the first reason in the spec's order; nothing else closes it
    later than that quote, and a position still open never met one."""
    records = [r for i, x in enumerate(scenario[1], start=1) if (r := parse_line(x, i))]
    events = [json.loads(x) for x in simulated.splitlines()]
    first = first_triggers(records, events)
    still_open = {p["ref"] for e in events if e["type"] == "account_state" for p in e["open"]}
    closes = {e["ref"]: e for e in events if e["type"] == "closed"}
    assert set(first) == still_open | set(closes)
    by_trigger = 0
    for ref, hit in first.items():
        ev = closes.get(ref)
        if ev is None:
            assert hit is None, (ref, hit)
        elif ev["reason"] in ("take_profit", "stop_loss", "liquidation"):
            by_trigger += 1
            assert hit == (ev["t"], ev["reason"], Decimal(ev["price"])), (ev, hit)
        else:  # manual, stop_out, reset: before any trigger (or at the same instant)
            assert hit is None or hit[0] >= ev["t"], (ev, hit)
    assert by_trigger > 100


@pytest.mark.real_data
def test_snapshot_restore_on_real_quotes_replays_identically(
    scenario: tuple[Path, list[str], int], simulated: str
) -> None:
    """Snapshot after input k, restore, feed k+1..n: same events and state as the straight run,
    and the same bytes `workbench simulate` writes."""
    path, lines, _ = scenario
    records = [r for i, x in enumerate(lines, start=1) if (r := parse_line(x, i)) is not None]
    n = len(records)
    ks = {0, n // 7, n // 2, n - 2}
    eng, events, snaps = run_in_process(records, ks)
    assert len(snaps) == len(ks) + 1, "no cross account was ever in margin call"
    straight = state_dict(eng)
    buf = io.StringIO()
    for ev in events:
        buf.write(json.dumps(ev) + "\n")
    write_states(eng, buf)
    assert buf.getvalue() == simulated
    for k in sorted(snaps):
        data, seen = snaps[k]
        eng2 = restore(data)
        tail: list[dict[str, Any]] = []
        eng2.subscribe(tail.append)
        for rec in records[k + 1 :]:
            with contextlib.suppress(BadQuote):
                eng2.apply(rec)
        assert tail == events[seen:], f"replay after input {k} diverged"
        assert state_dict(eng2) == straight, f"state after replay from input {k} differs"
