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

from ..domain import Account, Instrument, Order, Position
from . import index, trailing
from .core import Engine

MAGIC = b"WBSNAP"
VERSION = 2
READABLE = (1, 2)  # version 1: before pending orders and trailing stops


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
        "next_oid": engine.next_oid,
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
             p.fee, p.tp, p.sl, p.liq, p.opened_t, p.swap, p.trail,
             None if p.tgroup is None else p.tgroup.anchor]
            for p in a.positions.values()
        ],
        "orders": [
            [o.oid, o.ref, o.book.sid, o.side, o.kind, o.price, o.margin, o.qty,
             str(o.leverage), o.tp, o.sl, o.trail, o.expires, o.placed_t]
            for o in sorted(a.orders.values(), key=lambda o: o.oid)
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
    if version not in READABLE:
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
    eng.next_oid = s.get("next_oid", 1)
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
        for row in ad["positions"]:
            pid, ref, sid, side, qty, op, m, lev, fee, tp, sl, liq, ot, swap = row[:14]
            lev_d = levs.get(lev)
            if lev_d is None:
                lev_d = levs[lev] = Decimal(lev)
            pos = Position(pid, a, ref, eng.books[sid], side, qty, op, m, lev_d, fee, tp, sl, ot)
            pos.liq = liq
            pos.swap = swap
            if len(row) > 14 and row[14] is not None:
                trailing.attach(pos.book, pos, row[14], row[15])
            a.positions[ref] = pos
            a.add_exposure(pos, 1)
            eng.open_count += 1
        for oid, ref, sid, side, kind, price, m, q, lev, tp, sl, trail, exp, pt in ad.get(
            "orders", ()
        ):
            o = Order(oid, a, ref, eng.books[sid], side, kind, price, m, q, Decimal(lev), pt)
            o.tp, o.sl, o.trail, o.expires = tp, sl, trail, exp
            a.orders[ref] = o
    eng._orders.rebuild()
    index.add_positions(
        (p for a in eng.accounts for p in a.positions.values()), eng.books, eng.accounts
    )
    for a in eng.accounts:
        eng._cross.watch(a)
    return eng
