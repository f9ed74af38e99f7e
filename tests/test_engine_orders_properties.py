"""Properties of the engine under random sequences of every input, the new ones included
(order, cancel, modify, close with qty), checked after each input:

- money is conserved: balance == demo + deposits + realized - fees - swaps + written_off +
  resets, the events' own ledger (partial closes included) agrees, no isolated balance < 0;
- a partial close settles exactly its part: pnl, and the margin share released;
- a refused command and a waiting order change no figure;
- the trigger index agrees with brute force: a quote closes exactly the positions whose
  trigger holds (liquidation, stop loss, trailing stop, take profit, the trailing level
  from a model of the best price since it was set), nothing open or pending is left
  triggered, and no order outlives its expiry;
- a snapshot at any point, restored, emits the same following events byte for byte, and
  the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from workbench.domain import ISOLATED, LONG, Instrument
from workbench.engine import BadInput, Engine, index, restore, snapshot
from workbench.engine.snapshot import state_dict

SEC = 1_000_000
HOUR = 3600 * SEC
T0 = 1_723_154_400_000_000 - 30 * 60 * SEC  # 21:30 UTC: rollovers (swaps) come into reach
SYMBOLS = {"X": Decimal("0.01"), "Y": Decimal("0.5")}
START = {"X": 10_000, "Y": 4_000}  # in ticks: 100.00 and 2000
ACCOUNTS = [("iso", ISOLATED, "1000", "0.05"), ("cr", "cross", "500", "0"),
            ("iso0", ISOLATED, "300", "0")]  # fmt: skip
REFS = [f"r{i}" for i in range(7)]
STEPS = st.lists(st.tuples(st.integers(0, 99), st.integers(0, 2**32)), min_size=40, max_size=90)


def new_engine() -> Engine:
    eng = Engine(
        [
            Instrument.from_fields({"symbol": "X", "tick_size": "0.01", "commission_rate":
                                    "0.001", "swap_long": "0.0002", "swap_short": "-0.0001"}),
            Instrument.from_fields({"symbol": "Y", "tick_size": "0.5", "max_leverage": "50",
                                    "spread_markup_bps": "10"}),
        ]
    )  # fmt: skip
    for name, mode, bal, mr in ACCOUNTS:
        eng.create_account(name, margin_mode=mode, balance=bal, maintenance_rate=mr)
    return eng


# ------------------------------------------------------------------ the inputs
class Inputs:
    """Turns (selector, seed) pairs into scenario records on random-walk prices."""

    def __init__(self) -> None:
        self.t = T0
        self.mid = dict(START)
        self.made: list[tuple[str, str, str]] = []  # (account, ref, symbol) opened or ordered

    def price(self, sym: str, ticks: int) -> str:
        return format(max(ticks, 1) * SYMBOLS[sym], "f")

    def brackets(self, r: random.Random, sym: str, side: int, ref: int) -> dict[str, Any]:
        """TP/SL around a reference price in ticks: mostly right, sometimes wrong or absent."""
        out: dict[str, Any] = {}
        for key, sign in (("take_profit", side), ("stop_loss", -side)):
            if r.random() < 0.4:
                k = r.choice([-5, 1, 5, 30, 30, 200, 200, 1000])
                out[key] = self.price(sym, ref + sign * k)
        if r.random() < 0.35:
            out["trailing_stop"] = r.choice(["0.5", "1", "3", "10", "10", "40", "40", "0"])
        return out

    def record(self, sel: int, seed: int) -> dict[str, Any]:
        r = random.Random(seed)
        if sel < 42:  # a quote: time may jump (stale prices, rollovers, expiries)
            self.t += r.choice([0, 1000, SEC // 2, 2 * SEC, 2 * SEC, 2 * SEC, 11 * SEC, 3 * HOUR])
        else:
            self.t += r.choice([0, 0, 1000, SEC // 2] * 6 + [11 * SEC])
        sym = r.choice(list(SYMBOLS))
        base = {"t": self.t, "account": r.choice(ACCOUNTS)[0], "ref": r.choice(REFS)}
        if 68 <= sel < 96 and self.made and r.random() < 0.85:  # mostly a ref that exists
            account, ref, sym = r.choice(self.made[-6:])
            base.update(account=account, ref=ref)
        mid = self.mid[sym]
        if sel < 42:
            mid = max(100, mid + r.choice([-1, 1]) * r.choice([0, 1, 3, 10, 50, 200, 900]))
            self.mid[sym] = mid
            spread = r.choice([0, 1, 2, 5, 40])
            return {"t": self.t, "type": "quote", "symbol": sym, "bid": self.price(sym, mid),
                    "ask": self.price(sym, mid + spread)}  # fmt: skip
        side = r.choice([1, -1])
        size = (
            {"margin": r.choice(["5", "20", "20", "100", "100", "400", "3000"])}
            if r.random() < 0.6
            else {"qty": r.choice(["0.01", "0.1", "1", "0.37"])}
        )
        common = {"symbol": sym, "side": "long" if side > 0 else "short",
                  "leverage": r.choice(["1", "5", "10", "20", "50", "100"][: 5 + (sym == "X")]),
                  **size}  # fmt: skip
        if sel < 68:
            self.made.append((base["account"], base["ref"], sym))
        if sel < 52:
            return {**base, "type": "open", **common, **self.brackets(r, sym, side, mid)}
        if sel < 68:
            kind = r.choice(["limit", "stop"])
            away = r.choice([-3, 1, 2, 10, 10, 60, 60, 300])  # negative: the wrong side
            toward = -1 if (kind == "limit") == (side > 0) else 1
            at = mid + toward * away
            rec = {**base, "type": "order", **common, "kind": kind, "price": self.price(sym, at)}
            if r.random() < 0.4:
                rec["expires"] = self.t + r.choice([1, SEC, 5 * SEC, 60 * SEC, 5 * HOUR])
            return {**rec, **self.brackets(r, sym, side, at)}
        if sel < 73:
            return {**base, "type": "cancel"}
        if sel < 84:
            rec = {**base, "type": "modify"}
            for key in ("take_profit", "stop_loss", "trailing_stop", "price", "expires"):
                if r.random() < 0.3:
                    k = r.choice([None, -20, -3, 2, 15, 400])
                    if k is None:
                        rec[key] = None
                    elif key == "expires":
                        rec[key] = self.t + abs(k) * SEC
                    elif key == "trailing_stop":
                        rec[key] = self.price(sym, abs(k))
                    else:
                        rec[key] = self.price(sym, mid + k)
            return rec
        if sel < 96:
            rec = {**base, "type": "close"}
            if r.random() < 0.6:
                rec["qty"] = r.choice(["0.001", "0.05", "0.3", "0.5", "1", "0", "1e-9", "-1"])
            return rec
        if sel < 99:
            return {**base, "type": "deposit", "amount": "100"}
        return {"t": self.t, "type": "reset", "account": base["account"]}


def records(steps: list[tuple[int, int]]) -> list[dict[str, Any]]:
    gen = Inputs()
    first = [{"t": T0, "type": "quote", "symbol": s, "bid": gen.price(s, START[s]),
              "ask": gen.price(s, START[s] + 1)} for s in SYMBOLS]  # fmt: skip
    return first + [gen.record(sel, seed) for sel, seed in steps]


def run(eng: Engine, recs: list[dict[str, Any]]) -> list[str]:
    """Apply records; the events (and refusals of bad input) as JSON lines."""
    out: list[str] = []
    eng.subscribe(lambda ev: out.append(json.dumps(ev)))
    for rec in recs:
        try:
            eng.apply(rec)
        except BadInput as e:
            out.append(f"BadInput {e}")
    return out


# ------------------------------------------------------------------ the checks
class Checker:
    """Runs records one by one through an engine and checks the properties after each."""

    def __init__(self) -> None:
        self.eng = new_engine()
        self.events: list[dict[str, Any]] = []
        self.eng.subscribe(self.events.append)
        self.ledger = {a.name: a.balance for a in self.eng.accounts}
        self.trail: dict[tuple[str, str], list[int]] = {}  # (account, ref) -> [side, d, anchor]

    def close_price(self, sid: int, side: int) -> int:
        b = self.eng.books[sid]
        return b.bid if side == LONG else b.ask

    def step(self, rec: dict[str, Any]) -> None:
        eng = self.eng
        pre = state_dict(eng)
        pre_pos = {(a["name"], row[1]): row for a in pre["accounts"] for row in a["positions"]}
        start = len(self.events)
        try:
            eng.apply(rec)
        except BadInput:
            assert state_dict(eng)["accounts"] == pre["accounts"]
        new = self.events[start:]
        if rec["type"] == "quote":
            self.quote_closes(rec, pre, pre_pos, new)
        self.follow(rec, new, pre_pos)
        self.check_state(rec, pre, new)

    def quote_closes(
        self, rec: dict[str, Any], pre: dict[str, Any], pre_pos: dict, new: list[dict[str, Any]]
    ) -> None:
        """The positions open before a quote that it closes by a trigger are exactly those
        whose trigger holds at its prices, in the spec's order of checks."""
        sid = self.eng.symbol_id(rec["symbol"])
        b = self.eng.books[sid]
        if b.t != rec["t"]:
            return
        expect = {}
        for key, row in pre_pos.items():
            _, ref, psid, side, qty, op, m, _, _, tp, sl, liq, *_rest = row
            if psid != sid:
                continue
            p = b.bid if side == LONG else b.ask
            tr = self.trail.get(key)
            level = None
            if tr is not None:
                anchor = max(tr[2], p) if side == LONG else min(tr[2], p)
                level = anchor - tr[1] * side
            hits = [
                ("liquidation", liq), ("stop_loss", sl), ("trailing_stop", level),
            ]  # fmt: skip
            why = next((w for w, x in hits if x is not None and (p - x) * side <= 0), None)
            if why is None and tp is not None and (p - tp) * side >= 0:
                why = "take_profit"
            if why:
                expect[key] = (why, b.fmt(p))
        got = {
            (e["account"], e["ref"]): (e["reason"], e["price"])
            for e in new
            if e["type"] == "closed" and (e["account"], e["ref"]) in pre_pos
            and e["reason"] != "stop_out"
        }  # fmt: skip
        assert got == expect, (rec, got, expect)

    def follow(self, rec: dict[str, Any], new: list[dict[str, Any]], pre_pos: dict) -> None:
        """Update the event ledger and the trailing model from the new events."""
        if rec["type"] == "quote":
            sid = self.eng.symbol_id(rec["symbol"])
            if self.eng.books[sid].t == rec["t"]:
                for key, tr in self.trail.items():
                    if pre_pos[key][2] == sid:
                        p = self.close_price(sid, tr[0])
                        tr[2] = max(tr[2], p) if tr[0] == LONG else min(tr[2], p)
        for ev in new:
            kind, name = ev["type"], ev.get("account")
            key = (name, ev.get("ref"))
            if kind == "opened":
                self.ledger[name] -= units(ev["fee"], 16)
                if "trailing_stop" in ev:
                    side = LONG if ev["side"] == "long" else -LONG
                    sid = self.eng.symbol_id(ev["symbol"])
                    d = units(ev["trailing_stop"], 8)
                    self.trail[key] = [side, d, self.close_price(sid, side)]
            elif kind in ("closed", "reduced"):
                self.ledger[name] += units(ev["pnl"], 16) - units(ev["fee"], 16)
                self.ledger[name] += units(ev.get("written_off", "0"), 16)
                if kind == "closed":
                    self.trail.pop(key, None)
                else:
                    self.check_reduced(ev, pre_pos[key])
            elif kind == "swap":
                self.ledger[name] += units(ev.get("written_off", "0"), 16) - units(ev["amount"], 16)
            elif kind == "deposit":
                self.ledger[name] += units(ev["amount"], 16)
            elif kind == "reset":
                self.ledger[name] = self.eng.by_name[name].demo_balance
            elif kind == "modified" and "price" not in ev and "trailing_stop" in rec:
                pos = self.eng.by_name[name].positions[ev["ref"]]
                if ev["trailing_stop"] is None:
                    self.trail.pop(key, None)
                else:
                    d = units(ev["trailing_stop"], 8)
                    self.trail[key] = [pos.side, d, self.close_price(pos.book.sid, pos.side)]
            if "balance" in ev:
                assert self.ledger[name] == units(ev["balance"], 16), (ev, self.ledger[name])

    def check_reduced(self, ev: dict[str, Any], row: list[Any]) -> None:
        """pnl of the part at the event's price; the part's margin share released."""
        acct = self.eng.by_name[ev["account"]]
        side, qty, op, margin = row[3], row[4], row[5], row[6]
        part, p = units(ev["qty"], 8), units(ev["price"], 8)
        assert 0 < part < qty and units(ev["remaining_qty"], 8) == qty - part, (ev, row)
        pnl = part * (p - op) * side
        if acct.mode == ISOLATED:
            pnl = max(pnl, -(margin * part // qty))
        assert units(ev["pnl"], 16) == pnl, (ev, pnl)
        pos = acct.positions[ev["ref"]]
        assert pos.margin == margin - margin * part // qty, (ev, pos.margin, margin)

    def check_state(self, rec: dict[str, Any], pre: dict[str, Any], new: list[dict]) -> None:
        eng = self.eng
        for acct in eng.accounts:
            assert acct.balance == (
                acct.demo_balance + acct.deposits + acct.realized - acct.fees - acct.swaps
                + acct.written_off + acct.resets
            ), acct.name  # fmt: skip
            assert acct.balance == self.ledger[acct.name], acct.name
            if acct.mode == ISOLATED:
                assert acct.balance >= 0, acct.name
            for o in acct.orders.values():
                assert o.expires is None or o.expires > eng.now, (acct.name, o.ref)
                b = o.book
                assert b.t < 0 or not o.triggered(b.bid, b.ask), ("left triggered", o.ref)
        positions = [p for a in eng.accounts for p in a.positions.values()]
        for b in eng.books:
            if b.t >= 0:
                assert index.brute_force(b, positions) == [], ("left triggered", rec)
        trails = {(p.account.name, p.ref): p for p in positions if p.trail is not None}
        assert set(trails) == set(self.trail), (set(trails), set(self.trail))
        for key, (side, d, anchor) in self.trail.items():
            assert trails[key].trail_level() == anchor - d * side, (key, rec)
        kinds = {e["type"] for e in new}
        if (rec["type"] != "quote" and kinds <= {"rejected", "order_placed"}) or (
            kinds == {"order_cancelled"} and rec["type"] == "cancel"
        ):
            after = state_dict(eng)["accounts"]
            for a, b in zip(pre["accounts"], after, strict=True):
                assert (a["balance"], a["positions"], a["totals"]) == (
                    b["balance"], b["positions"], b["totals"],
                ), (rec, new)  # fmt: skip
            if kinds <= {"rejected"}:
                assert after == pre["accounts"], (rec, new)


def units(text: str, dp: int) -> int:
    d = Decimal(text).scaleb(dp)
    assert d == d.to_integral_value(), text
    return int(d)


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(STEPS)
def test_every_input_keeps_the_ledger_and_the_triggers_right(steps: list) -> None:
    checker = Checker()
    for rec in records(steps):
        checker.step(rec)


@SETTINGS
@given(STEPS, st.integers(0, 82))
def test_a_snapshot_at_any_point_restores_the_same_future(steps: list, k: int) -> None:
    recs = records(steps)
    k = min(k, len(recs))
    whole = new_engine()
    lines = run(whole, recs)
    again = new_engine()
    assert run(again, recs) == lines  # same inputs, same bytes
    assert snapshot(again) == snapshot(whole)
    first = new_engine()
    head = run(first, recs[:k])
    restored = restore(snapshot(first))
    assert head + run(restored, recs[k:]) == lines
    assert snapshot(restored) == snapshot(whole)
