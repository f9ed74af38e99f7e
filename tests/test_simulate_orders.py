"""`workbench simulate` on a scenario with every new line type (docs/examples/orders.jsonl),
run as a user runs it: the real CLI in a subprocess. Figures computed by hand below."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCENARIO = Path(__file__).parents[1] / "docs" / "examples" / "orders.jsonl"
CLI = Path(sys.executable).parent / "workbench"
T0 = 1723161254000000
SEC = 1_000_000


def test_simulate_runs_orders_cancel_modify_partial_close_and_trailing_stops() -> None:
    res = subprocess.run([str(CLI), "simulate", str(SCENARIO)], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["seq"] for x in lines] == list(range(1, 17))
    brief = [(x["t"] - T0, x["type"], x.get("account"), x.get("ref"), x.get("reason"))
             for x in lines[:-2]]  # fmt: skip
    assert brief == [
        (0, "order_placed", "alice", "p1", None),
        (0, "order_placed", "alice", "p2", None),
        (0, "order_placed", "bob", "b1", None),
        (0, "order_placed", "alice", "p3", None),
        (0, "order_placed", "alice", "p4", None),
        (1 * SEC, "order_cancelled", "alice", "p4", "cancelled"),
        (1 * SEC, "modified", "alice", "p1", None),  # 59500 -> 59600
        (10 * SEC, "opened", "alice", "p1", None),  # ask 59600 <= 59600
        (30 * SEC, "opened", "bob", "b1", None),  # ask 60610 >= 60500
        (31 * SEC, "reduced", "alice", "p1", "manual"),
        (32 * SEC, "modified", "bob", "b1", None),
        (61 * SEC, "order_cancelled", "alice", "p2", "expired"),  # expired at 60 s
        (61 * SEC, "closed", "bob", "b1", "trailing_stop"),  # 60600 - 200 >= 60350
        (70 * SEC, "closed", "alice", "p1", "trailing_stop"),  # 60600 - 300 >= 60300
    ]
    p1 = lines[7]
    # margin 100 at 20x, filled at 59600: qty floor_1e-8(2000 / 59600) = 0.03355704
    assert (p1["order"], p1["price"], p1["qty"], p1["trailing_stop"]) == (
        "limit", "59600.00", "0.03355704", "300.00",
    )  # fmt: skip
    b1 = lines[8]  # qty 0.02 at 60610, 50x: margin 24.244
    assert (b1["order"], b1["price"], b1["margin"]) == ("stop", "60610.00", "24.244")
    part = lines[9]  # 0.01 * (60600 - 59600) = 10
    assert (part["price"], part["qty"], part["pnl"], part["balance"], part["remaining_qty"]) == (
        "60600.00", "0.01", "10", "5010", "0.02355704",
    )  # fmt: skip
    assert lines[10]["trailing_stop"] == "200.00" and lines[10]["take_profit"] == "61000.00"
    assert (lines[12]["price"], lines[12]["pnl"], lines[12]["balance"]) == (
        "60350.00", "-5.2", "994.8",  # 0.02 * (60350 - 60610)
    )  # fmt: skip
    assert (lines[13]["price"], lines[13]["pnl"], lines[13]["balance"]) == (
        "60300.00", "16.489928", "5026.489928",  # 0.02355704 * (60300 - 59600)
    )  # fmt: skip
    alice, bob = lines[-2:]
    assert alice["type"] == bob["type"] == "account_state"
    assert alice["pending"] == [
        {"ref": "p3", "symbol": "BTCUSDT", "side": "long", "kind": "limit", "price": "58000.00"}
    ]
    assert (alice["open"], bob["pending"], bob["balance"]) == ([], [], "994.8")
