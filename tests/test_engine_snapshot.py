"""Snapshots: checksummed bytes, refusal of corrupt data, replay equivalence."""

from __future__ import annotations

import pytest
from engine_helpers import SEC, T0, make_engine

from workbench.engine import SnapshotError, restore, snapshot
from workbench.engine.snapshot import state_dict


def _inputs() -> list[dict]:
    rows: list[dict] = [
        {"type": "account", "account": "i", "balance": "1000", "maintenance_rate": "0.05"},
        {"type": "account", "account": "c", "margin_mode": "cross", "balance": "300"},
    ]
    prices = [100, 101, 99, 97, 103, 110, 95, 90, 120, 80, 85, 130]
    for k, p in enumerate(prices):
        rows.append({"type": "quote", "symbol": "X", "bid": str(p), "ask": f"{p}.05"})
        if k % 3 == 0:
            rows.append(
                {
                    "type": "open",
                    "account": "i",
                    "symbol": "X",
                    "side": "long",
                    "leverage": "20",
                    "margin": "50",
                    "take_profit": str(p + 8),
                }
            )
            rows.append(
                {
                    "type": "open",
                    "account": "c",
                    "symbol": "X",
                    "side": "short",
                    "leverage": "50",
                    "qty": "0.5",
                    "stop_loss": str(p + 25),
                }
            )
    for k, r in enumerate(rows):
        r["t"] = T0 + k * SEC
    return rows


def _run(eng, rows: list[dict]) -> None:
    for r in rows:
        eng.apply(dict(r))


def test_restore_after_k_then_k_plus_1_to_n_equals_1_to_n() -> None:
    rows = _inputs()
    full, full_events = make_engine()
    _run(full, rows)
    assert {e["type"] for e in full_events} >= {"opened", "closed"}
    for k in range(0, len(rows) + 1, 5):
        eng, events = make_engine()
        _run(eng, rows[:k])
        restored = restore(snapshot(eng))
        tail: list[dict] = []
        restored.subscribe(tail.append)
        _run(restored, rows[k:])
        assert events + tail == full_events
        assert state_dict(restored) == state_dict(full)
        assert snapshot(restored) == snapshot(full)


def test_snapshot_bytes_are_deterministic_and_checksummed() -> None:
    eng, _ = make_engine()
    _run(eng, _inputs())
    a, b = snapshot(eng), snapshot(eng)
    assert a == b and a.startswith(b"WBSNAP 2 ")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda s: s[: len(s) // 2], "truncated"),
        (lambda s: s[:-1] + bytes([s[-1] ^ 1]), "checksum mismatch"),
        (lambda s: s + b"x", "trailing bytes"),
        (lambda s: b"junk" + s, "bad header"),
        (lambda s: s.replace(b"WBSNAP 2", b"WBSNAP 9", 1), "version 9"),
        (lambda s: b"", "bad header"),
    ],
)
def test_corrupt_or_truncated_snapshots_are_refused(mangle, message: str) -> None:
    eng, _ = make_engine()
    _run(eng, _inputs())
    with pytest.raises(SnapshotError, match=message):
        restore(mangle(snapshot(eng)))
