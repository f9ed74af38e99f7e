"""Snapshots: the whole engine state as checksummed bytes, and back.

Layout: a header line `WBSNAP <version> <length> <sha256 hex>\n`, then `length` bytes
of canonical JSON. The trigger index and cross-margin edges are derived state: they
are rebuilt on restore, not stored.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from ..domain import Account, Instrument, Position
from . import index
from .core import Engine

MAGIC = b"WBSNAP"
VERSION = 1


class SnapshotError(ValueError):
    """A snapshot that is truncated, corrupt or of an unknown version."""


def state_dict(engine: Engine) -> dict[str, Any]:
    """The engine state as plain JSON-able data (ints and strings only)."""
    if engine._busy or engine._pending:
        raise RuntimeError("a snapshot is taken between inputs, not inside one")
    return {
        "seq": engine.seq,
        "now": engine.now,
        "next_roll": engine.next_roll,
        "next_pid": engine.next_pid,
        "demo_balance": engine.demo_balance,
        "max_quote_age_us": engine.max_quote_age_us,
        "max_deposit": engine.max_deposit,
        "counters": [engine.quotes, engine.bad_quotes, engine.ignored_quotes],
        "instruments": [b.inst.to_fields() for b in engine.books],
        "quotes": [[b.t, b.bid, b.ask] for b in engine.books],
        "accounts": [_account_dict(a) for a in engine.accounts],
    }


def _account_dict(a: Account) -> dict[str, Any]:
    return {
        "name": a.name,
        "mode": a.mode,
        "demo_balance": a.demo_balance,
        "balance": a.balance,
        "levels": [list(a.maintenance_rate), list(a.margin_call_level), list(a.stop_out_level)],
        "armed": a.armed,
        "totals": [a.deposits, a.realized, a.fees, a.swaps, a.written_off, a.resets],
        "positions": [
            [p.pid, p.ref, p.book.sid, p.side, p.qty, p.open_price, p.margin, str(p.leverage),
             p.fee, p.tp, p.sl, p.liq, p.opened_t, p.swap]
            for p in a.positions.values()
        ],
    }  # fmt: skip


def snapshot(engine: Engine) -> bytes:
    """Serialise the engine state to checksummed bytes."""
    return encode(state_dict(engine))


def encode(state: dict[str, Any]) -> bytes:
    """Checksummed bytes of a `state_dict` (may run in another thread than the engine's)."""
    body = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(body).hexdigest()
    return b"%s %d %d %s\n" % (MAGIC, VERSION, len(body), digest.encode()) + body


def restore(data: bytes) -> Engine:
    """Rebuild an engine from snapshot bytes; refuses corrupt or truncated data clearly."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SnapshotError("a snapshot is bytes")
    data = bytes(data)
    head, sep, body = data.partition(b"\n")
    parts = head.split(b" ")
    if not sep or len(parts) != 4 or parts[0] != MAGIC:
        raise SnapshotError("not a workbench snapshot (bad header)")
    try:
        version, length = int(parts[1]), int(parts[2])
    except ValueError:
        raise SnapshotError("not a workbench snapshot (bad header)") from None
    if version != VERSION:
        raise SnapshotError(f"snapshot version {version} is not supported (expected {VERSION})")
    if len(body) < length:
        raise SnapshotError(f"snapshot is truncated: {len(body)} of {length} bytes")
    if len(body) > length:
        raise SnapshotError(f"snapshot has {len(body) - length} unexpected trailing bytes")
    if hashlib.sha256(body).hexdigest().encode() != parts[3]:
        raise SnapshotError("snapshot checksum mismatch: the data is corrupt")
    return from_state(json.loads(body))


def from_state(s: dict[str, Any]) -> Engine:
    """Rebuild an engine from `state_dict` output (indexes and edges are recomputed)."""
    eng = Engine(
        [Instrument.from_fields(f) for f in s["instruments"]],
        max_quote_age_us=s["max_quote_age_us"],
    )
    eng.demo_balance = s["demo_balance"]
    eng.max_deposit = s["max_deposit"]
    eng.seq, eng.now, eng.next_roll, eng.next_pid = (
        s["seq"],
        s["now"],
        s["next_roll"],
        s["next_pid"],
    )
    eng.quotes, eng.bad_quotes, eng.ignored_quotes = s["counters"]
    for b, (t, bid, ask) in zip(eng.books, s["quotes"], strict=True):
        b.t, b.bid, b.ask = t, bid, ask
    levs: dict[str, Decimal] = {}  # leverages repeat: one Decimal each (they are immutable)
    for ad in s["accounts"]:
        a = Account(
            index=len(eng.accounts), name=ad["name"], mode=ad["mode"],
            demo_balance=ad["demo_balance"], balance=ad["balance"],
            maintenance_rate=tuple(ad["levels"][0]), margin_call_level=tuple(ad["levels"][1]),
            stop_out_level=tuple(ad["levels"][2]), armed=ad["armed"],
        )  # fmt: skip
        a.deposits, a.realized, a.fees, a.swaps, a.written_off, a.resets = ad["totals"]
        eng.accounts.append(a)
        eng.by_name[a.name] = a
        for pid, ref, sid, side, qty, op, m, lev, fee, tp, sl, liq, ot, swap in ad["positions"]:
            lev_d = levs.get(lev)
            if lev_d is None:
                lev_d = levs[lev] = Decimal(lev)
            pos = Position(pid, a, ref, eng.books[sid], side, qty, op, m, lev_d, fee, tp, sl, ot)
            pos.liq = liq
            pos.swap = swap
            a.positions[ref] = pos
            a.add_exposure(pos, 1)
            eng.open_count += 1
    index.add_positions(
        (p for a in eng.accounts for p in a.positions.values()), eng.books, eng.accounts
    )
    for a in eng.accounts:
        eng._watch(a)
    return eng
