"""Journal damage is never silent data loss: only a torn tail (an unacknowledged last
write) is cut; anything else stops recovery, changing nothing, until `repair` sets the
damaged part aside and says what is lost. In-process, on real files and real DuckDB."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import duckdb
import pytest

from workbench.live.history import History
from workbench.live.host import LiveEngine
from workbench.live.journal import JournalDamaged, segments
from workbench.live.repair import repair_journal
from workbench.money import price_units

T0 = 1_723_161_254_000_000


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        self.t += 1000  # a millisecond a step: the quote stays fresh
        return self.t


def _live(data: Path, **kw: object) -> LiveEngine:
    live = LiveEngine(data, clock=Clock(), **kw)  # type: ignore[arg-type]
    live.start()
    return live


def _crash(live: LiveEngine) -> None:
    """Stop as a killed process would: no final snapshot (what was acknowledged is
    journaled and stored in the history)."""
    assert live.sequencer is not None
    live.sequencer.stop(final_snapshot=False)
    live.history.stop()
    gc.unfreeze()  # (what its recovery froze: the process would be gone)


def _opens(live: LiveEngine, refs: list[str], account: str = "alice") -> None:
    seq = live.sequencer
    assert seq is not None
    for ref in refs:
        seq.submit({"type": "open", "account": account, "ref": ref, "symbol": "BTC_USDC",
                    "side": "long", "leverage": "10", "qty": "0.01"}).result()  # fmt: skip


def _setup(live: LiveEngine) -> None:
    seq = live.sequencer
    assert seq is not None
    seq.submit({"type": "account", "account": "alice"}).result()
    seq.put_quotes([("BTC_USDC", T0, price_units("60000"), price_units("60000.5"))])


def _open_refs(live: LiveEngine, account: str = "alice") -> list[str]:
    assert live.sequencer is not None
    state = live.sequencer.query(lambda e: e.account_state(account)).result()
    return sorted(p["ref"] for p in state["open"])


def _ten_positions(data: Path) -> Path:
    """A crashed data directory: one segment, an account, a quote, ten opens (o0..o9)."""
    live = _live(data, snapshot_every=10**9, snapshot_seconds=10**9)
    _setup(live)
    _opens(live, [f"o{i}" for i in range(10)])
    _crash(live)
    (seg,) = [p for _, p in segments(data / "journal")]
    return seg


def _insert_garbage(seg: Path, before_ref: str) -> tuple[int, int]:
    """A garbage line before the open of `before_ref`; returns (byte offset, record)."""
    lines = seg.read_bytes().splitlines(keepends=True)
    at = next(i for i, x in enumerate(lines) if f'"ref": "{before_ref}"'.encode() in x)
    offset = sum(len(x) for x in lines[:at])
    seg.write_bytes(b"".join(lines[:at]) + b"#%garbage!\n" + b"".join(lines[at:]))
    return offset, at + 1


def _refused(data: Path) -> str:
    """The start of `data` raises JournalDamaged: its message (nothing of the failed start
    is kept: its history connection is closed, the traceback dropped)."""
    con = duckdb.connect(str(data / "accounts.duckdb"))
    try:
        with pytest.raises(JournalDamaged) as err:
            LiveEngine(data, clock=Clock(), history=History(con)).start()
    finally:
        con.close()
    msg = str(err.value)
    del err  # (its traceback holds this frame: a cycle kept to the end otherwise)
    return msg


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}  # fmt: skip


def test_a_bad_record_followed_by_valid_ones_stops_recovery_and_changes_nothing(
    tmp_path: Path,
) -> None:
    seg = _ten_positions(tmp_path)
    offset, record = _insert_garbage(seg, "o5")
    before = _files(tmp_path / "journal")
    err = _refused(tmp_path)
    msg = str(err)
    assert f"{seg} byte {offset} (record {record})" in msg
    assert "5 valid record(s) follow it" in msg and "--repair" in msg
    assert "\n" not in msg
    assert _files(tmp_path / "journal") == before, "nothing was cut or set aside"


def test_repair_sets_the_damaged_part_aside_and_says_what_is_lost(tmp_path: Path) -> None:
    seg = _ten_positions(tmp_path)
    offset, record = _insert_garbage(seg, "o5")
    damaged = seg.read_bytes()
    said: list[str] = []
    report = repair_journal(tmp_path, say=said.append)
    assert said == [f"repair: {x}" for x in report]
    (aside,) = [p for p in (tmp_path / "journal").iterdir() if p.name.startswith("damaged-")]
    assert (aside / seg.name).read_bytes() == damaged, "the damaged segment is kept whole"
    assert seg.read_bytes() == damaged[:offset], "the valid part is under its own name"
    text = "\n".join(report)
    assert f"lost 6 journal record(s), {record} to {record + 5} (5 readable, 1 damaged)" in text
    assert "open x5" in text and str(aside / seg.name) in text
    assert "5 acknowledged command(s)" in text and "history-inputs.jsonl" in text
    assert (aside / "REPAIR.txt").read_text().splitlines() == report
    live = LiveEngine(tmp_path, clock=Clock())
    rec = live.start()
    assert rec.warnings == []
    assert _open_refs(live) == [f"o{i}" for i in range(5)]
    # the history forgot the lost orders, and stores what comes next under their numbers
    assert sorted(o[0]["ref"] for o in live.history.orders("alice")) == _open_refs(live)
    _opens(live, ["n1"])
    live.stop()
    assert "n1" in {o[0]["ref"] for o in live.history.orders("alice")}
    assert "nothing to repair" in repair_journal(tmp_path, say=lambda _: None)[0]


@pytest.mark.parametrize(
    "tail",
    [b'{"t": 1723161300000000, "type": "dep', b"\0" * 300, b'{"t": 17231613, "ty\n',
     b'{"t": 17231613, "ty\n\0\0\0'],
)  # fmt: skip
def test_a_torn_tail_is_cut_with_a_warning(tmp_path: Path, tail: bytes) -> None:
    seg = _ten_positions(tmp_path)
    whole = seg.read_bytes()
    seg.write_bytes(whole + tail)
    live = LiveEngine(tmp_path, clock=Clock())
    rec = live.start()
    assert len(rec.warnings) == 1 and "journal tail cut" in rec.warnings[0]
    assert f"{seg} byte {len(whole)}" in rec.warnings[0]
    assert _open_refs(live) == [f"o{i}" for i in range(10)]
    live.stop()
    assert seg.read_bytes().startswith(whole)


def test_a_missing_segment_stops_recovery(tmp_path: Path) -> None:
    live = _live(tmp_path, snapshot_every=3)
    _setup(live)
    _opens(live, [f"o{i}" for i in range(9)])
    _crash(live)
    segs = segments(tmp_path / "journal")
    assert len(segs) >= 3
    for p in (tmp_path / "snapshots").iterdir():  # recovery has to read every segment
        p.unlink()
    (first, gone), (after, _) = segs[1], segs[2]
    gone.unlink()
    err = _refused(tmp_path)
    assert f"records {first} to {after - 1} are missing" in str(err)
    assert not list((tmp_path / "journal").glob("*.orphaned"))
    report = repair_journal(tmp_path, say=lambda _: None)
    assert any(x.startswith("moved ") for x in report)
    again = LiveEngine(tmp_path, clock=Clock())
    again.start()
    assert again.sequencer is not None
    again.stop()


def _snapshot_then_five(data: Path) -> None:
    """A clean stop (a snapshot), then five acknowledged opens and a crash."""
    live = _live(data)
    _setup(live)
    live.stop()
    live = _live(data)
    _opens(live, [f"p{i}" for i in range(5)])
    _crash(live)


def test_a_deleted_journal_stops_recovery(tmp_path: Path) -> None:
    _snapshot_then_five(tmp_path)
    shutil.rmtree(tmp_path / "journal")
    err = _refused(tmp_path)
    assert "the journal is missing" in str(err)
    report = "\n".join(repair_journal(tmp_path, say=lambda _: None))
    assert "5 acknowledged command(s)" in report and "open x5; accounts alice" in report
    live = LiveEngine(tmp_path, clock=Clock())
    rec = live.start()
    assert rec.warnings == [] and _open_refs(live) == []
    assert live.history.orders("alice") == []
    live.stop()


def test_a_journal_ending_before_the_history_stops_recovery(tmp_path: Path) -> None:
    """Whole lines lost from the end (no tear to see): the history knows they were
    acknowledged."""
    _snapshot_then_five(tmp_path)
    seg = segments(tmp_path / "journal")[-1][1]
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:2]))
    err = _refused(tmp_path)
    assert "the history (accounts.duckdb) holds acknowledged commands up to record" in str(err)
    report = "\n".join(repair_journal(tmp_path, say=lambda _: None))
    assert "3 acknowledged command(s)" in report
    live = LiveEngine(tmp_path, clock=Clock())
    live.start()
    assert _open_refs(live) == ["p0", "p1"]
    live.stop()


def test_a_torn_looking_tail_the_history_holds_as_acknowledged_stops_recovery(
    tmp_path: Path,
) -> None:
    """The last open lost its newline after it was acknowledged: not an unacknowledged
    write, whatever it looks like."""
    seg = _ten_positions(tmp_path)
    data = seg.read_bytes()
    seg.write_bytes(data[:-1])
    err = _refused(tmp_path)
    assert "holds record 12 as acknowledged" in str(err)
    assert seg.read_bytes() == data[:-1]


def test_lost_quotes_whose_events_were_served_stop_recovery(tmp_path: Path) -> None:
    """Only quotes after the last command are lost, but they closed a position by its stop
    loss and that event was served: the history's events say so."""
    live = _live(tmp_path, snapshot_every=10**9, snapshot_seconds=10**9)
    _setup(live)
    assert live.sequencer is not None
    live.sequencer.submit({"type": "open", "account": "alice", "ref": "s", "symbol": "BTC_USDC",
                           "side": "long", "leverage": "10", "qty": "0.01",
                           "stop_loss": "59000"}).result()  # fmt: skip
    live.sequencer.put_quotes([("BTC_USDC", T0 + 5000, price_units("58000"),
                                price_units("58000.5"))])  # fmt: skip
    assert live.sequencer.query(lambda e: e.seq).result() == 2  # opened, closed
    _crash(live)
    seg = segments(tmp_path / "journal")[-1][1]
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:-1]))  # the last quote, whole line and all
    err = _refused(tmp_path)
    assert "replays to event 1, but the history (accounts.duckdb) holds events up to 2" in str(err)


def test_a_gap_between_the_snapshot_and_the_journal_stops_recovery(tmp_path: Path) -> None:
    live = _live(tmp_path, snapshot_every=3)
    _setup(live)
    _opens(live, [f"o{i}" for i in range(12)])
    _crash(live)
    snaps = sorted((tmp_path / "snapshots").iterdir())
    for p in snaps[1:]:  # all but the oldest kept are corrupt
        p.write_bytes(b"not a snapshot")
    oldest = int(snaps[0].name[9:21])
    for first, p in segments(tmp_path / "journal"):
        if first <= oldest + 1:
            p.unlink()
    err = _refused(tmp_path)
    assert f"must continue from record {oldest + 1}" in str(err)
