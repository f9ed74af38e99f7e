"""The live engine's core: sequencer, journal, snapshots, recovery and history, in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from workbench.engine import BadInput, snapshot
from workbench.live.host import LiveEngine
from workbench.live.journal import iter_lines, read_tail, segments
from workbench.money import price_units
from workbench.scenario import run

T0 = 1_723_161_254_000_000
SEC = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


def start(tmp: Path, clock: Clock, **kw: object) -> LiveEngine:
    live = LiveEngine(tmp, clock=clock, **kw)  # type: ignore[arg-type]
    live.start()
    return live


def q(sym: str, t: int, bid: str, ask: str) -> tuple[str, int, int, int]:
    return (sym, t, price_units(bid), price_units(ask))


def trade_a_little(live: LiveEngine, clock: Clock) -> list[dict]:
    seq = live.sequencer
    assert seq is not None
    out = []
    out += seq.submit({"type": "account", "account": "alice"}).result()
    out += seq.submit({"type": "account", "account": "bob", "margin_mode": "cross"}).result()
    seq.put_quotes([q("BTC_USDC", T0, "60000", "60000.1")])
    clock.t = T0 + SEC
    out += seq.submit({"type": "open", "account": "alice", "ref": "a1", "symbol": "BTC_USDC",
                       "side": "long", "leverage": "50", "margin": "100",
                       "stop_loss": "59000"}).result()  # fmt: skip
    out += seq.submit({"type": "open", "account": "bob", "ref": "b1", "symbol": "BTC_USDC",
                       "side": "short", "leverage": "10", "qty": "0.01"}).result()  # fmt: skip
    out += seq.submit({"type": "open", "account": "bob", "ref": "b2", "symbol": "BTC_USDC",
                       "side": "short", "leverage": "10", "margin": "99999"}).result()  # fmt: skip
    seq.put_quotes([q("BTC_USDC", T0 + 2 * SEC, "58990", "58990.1")])  # alice's stop
    clock.t = T0 + 3 * SEC
    out += seq.submit({"type": "close", "account": "bob", "ref": "b1"}).result()
    out += seq.submit({"type": "deposit", "account": "alice", "amount": "250"}).result()
    return out


def test_commands_are_answered_with_their_events_and_journaled(tmp_path: Path) -> None:
    clock = Clock()
    live = start(tmp_path, clock)
    out = trade_a_little(live, clock)
    kinds = [e["type"] for e in out]
    assert kinds == ["opened", "opened", "rejected", "closed", "deposit"]
    assert out[2]["reason"] == "insufficient_margin"
    seq = live.sequencer
    assert seq is not None
    # a query waits for what came before it and sees the stop-loss fill
    figs = seq.query(lambda e: e.figures("alice")).result()
    assert figs["open_positions"] == 0
    with pytest.raises(BadInput):
        seq.submit({"type": "account", "account": "alice"}).result()  # refused: not journaled
    live.stop()
    lines = list(iter_lines(tmp_path / "journal"))
    assert sum('"type": "account"' in x for x in lines) == 2
    # simulate of the journal prints exactly the stored events, then the account states
    buf = io.StringIO()
    run(lines, buf)
    printed = buf.getvalue().splitlines()
    stored = live.history.lines()
    assert printed[: len(stored)] == stored
    assert [json.loads(x)["type"] for x in printed[len(stored) :]] == ["account_state"] * 2


def test_restart_recovers_state_from_snapshot_and_journal(tmp_path: Path) -> None:
    clock = Clock()
    live = start(tmp_path, clock, snapshot_every=3)
    trade_a_little(live, clock)
    seq = live.sequencer
    assert seq is not None
    before = seq.query(snapshot).result()
    live.stop()
    assert live.snapshots.indexes(), "snapshots were written"
    assert len(segments(tmp_path / "journal")) > 1, "a snapshot starts a new segment"
    again = LiveEngine(tmp_path, clock=clock)
    rec = again.start()
    assert rec.snapshot_index is not None and rec.warnings == []
    assert again.sequencer is not None
    assert again.sequencer.query(snapshot).result() == before
    again.stop()


def test_torn_journal_tail_and_corrupt_snapshot_are_skipped(tmp_path: Path) -> None:
    clock = Clock()
    live = start(tmp_path, clock, snapshot_every=10**9, snapshot_seconds=10**9)
    trade_a_little(live, clock)
    assert live.sequencer is not None
    state = live.sequencer.query(lambda e: e.account_state("alice")).result()
    live.sequencer.stop(final_snapshot=False)
    live.history.stop()  # (a crashed process writes nothing more)
    seg = segments(tmp_path / "journal")[-1][1]
    with open(seg, "ab") as f:
        f.write(b'{"t": 1723161257000000, "type": "dep')  # a torn, unacknowledged write
    (tmp_path / "snapshots" / f"snapshot-{999:012d}.snap").write_bytes(b"WBSNAP 1 5 abc\nxx")
    warnings: list[str] = []
    tail = read_tail(tmp_path / "journal", 0, warnings.append)
    assert any("torn" in w for w in warnings) and tail.records
    again = LiveEngine(tmp_path, clock=clock)
    rec = again.start()
    assert any("snapshot-000000000999.snap skipped" in w for w in rec.warnings)
    assert again.sequencer is not None
    assert again.sequencer.query(lambda e: e.account_state("alice")).result() == state
    # appends after the repaired tail stay readable
    clock.t += SEC
    again.sequencer.submit({"type": "deposit", "account": "alice", "amount": "1"}).result()
    again.stop()
    buf = io.StringIO()
    run(iter_lines(tmp_path / "journal"), buf)
    assert buf.getvalue().splitlines()[: again.history.max_seq] == again.history.lines()


def test_quote_lines_are_read_without_json_exactly(tmp_path: Path) -> None:
    """The recovery fast path reads the sequencer's quote lines to the same numbers."""
    clock = Clock()
    live = start(tmp_path, clock)
    assert live.sequencer is not None
    live.sequencer.put_quotes([q("BTC_USDC", T0, "61837.6", "61837.7"),
                               q("SOL_USDC", T0 + 1, "0.00000001", "150"),
                               q("ETH_USDC", T0 + 2, "2600", "2600.12345678")])  # fmt: skip
    live.sequencer.submit({"type": "account", "account": "z"}).result()
    live.stop()
    tail = read_tail(tmp_path / "journal", 0)
    lines = list(iter_lines(tmp_path / "journal"))
    assert len(tail.records) == len(lines) == 4
    for (_, rec), line in zip(tail.records, lines, strict=True):
        parsed = json.loads(line)
        if parsed["type"] == "quote":
            assert rec == (parsed["symbol"], parsed["t"], price_units(parsed["bid"]),
                           price_units(parsed["ask"]))  # fmt: skip
        else:
            assert rec == parsed
