"""`workbench simulate`: the spec's example, determinism, errors naming the line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "spec-example.jsonl"


def simulate(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "simulate", str(path), *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_spec_example_reproduces_the_documented_events() -> None:
    res = simulate(EXAMPLE)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    first = lines[0]
    assert res.stdout.splitlines()[0] == (
        '{"seq": 1, "t": 1723161254100000, "type": "opened", "account": "alice", "ref": "o1", '
        '"symbol": "BTCUSDT", "side": "long", "price": "61837.64", "qty": "0.0808569", '
        '"margin": "100", "leverage": "50", "fee": "0"}'
    )
    assert first["qty"] == "0.0808569"
    assert [x["type"] for x in lines] == [
        "opened", "opened", "closed", "deposit", "closed", "reset",
        "account_state", "account_state",
    ]  # fmt: skip
    assert [x["seq"] for x in lines] == list(range(1, 9))
    assert lines[-2]["margin_level"] is None and lines[-2]["open"] == []


def test_spec_stop_loss_example_numbers(tmp_path: Path) -> None:
    rows = EXAMPLE.read_text().splitlines()[:5]
    rows.append(json.dumps({"t": 1723161260000000, "type": "quote", "symbol": "BTCUSDT",
                            "bid": "61499.10", "ask": "61499.20"}))  # fmt: skip
    f = tmp_path / "sl.jsonl"
    f.write_text("\n".join(rows) + "\n")
    res = simulate(f)
    closed = [json.loads(x) for x in res.stdout.splitlines()][1]
    assert res.stdout.splitlines()[1] == (
        '{"seq": 2, "t": 1723161260000000, "type": "closed", "account": "alice", "ref": "o1", '
        '"reason": "stop_loss", "price": "61499.10", "pnl": "-27.373294926", "fee": "0", '
        '"balance": "4972.626705074"}'
    )
    assert closed["balance"] == "4972.626705074"


def test_same_file_same_bytes_and_out_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    a = simulate(EXAMPLE)
    b = simulate(EXAMPLE, "--out", str(out))
    assert a.returncode == b.returncode == 0
    assert b.stdout == ""
    assert out.read_text() == a.stdout


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"t": 5, "type": "teleport"}', "line 2: unknown input type 'teleport'"),
        ('{"type": "quote"}', "line 2: 't' must be a non-negative integer"),
        ('{"t": 1.5, "type": "quote"}', "line 2: 't' must be a non-negative integer"),
        ("[1, 2]", "line 2: a line must be a JSON object"),
        (
            '{"t": 5, "type": "quote", "symbol": "BTC_USDC", "bid": "x", "ask": "1"}',
            "line 2: bid must be a decimal number",
        ),
        (
            '{"t": 5, "type": "account", "account": "a", "colour": "red"}',
            "line 2: unknown account field(s): colour",
        ),
        (
            '{"t": 5, "type": "instrument", "symbol": "Z", "tick_size": "-1"}',
            "line 2: Z: tick_size must be positive",
        ),
        ('{"t": 5, "type": "deposit", "account": "a"}', "line 2: deposit input needs 'amount'"),
    ],
)
def test_malformed_lines_stop_with_an_error_naming_the_line(
    tmp_path: Path, line: str, message: str
) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"t": 0, "type": "account", "account": "z"}\n' + line + "\n")
    res = simulate(f)
    assert res.returncode == 2
    assert message in res.stderr


def test_time_going_backwards_is_an_error_but_an_old_quote_is_ignored(tmp_path: Path) -> None:
    f = tmp_path / "time.jsonl"
    rows = [
        {"t": 10, "type": "account", "account": "a"},
        {"t": 20, "type": "quote", "symbol": "BTC_USDC", "bid": "100", "ask": "101"},
        {"t": 15, "type": "quote", "symbol": "BTC_USDC", "bid": "1", "ask": "2"},
        {"t": 25, "type": "open", "account": "a", "symbol": "BTC_USDC", "side": "long",
         "leverage": "2", "qty": "1"},
        {"t": 24, "type": "deposit", "account": "a", "amount": "1"},
    ]  # fmt: skip
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = simulate(f)
    assert res.returncode == 2 and "line 5: t 24 is before" in res.stderr
    assert '"price": "101.0"' in res.stdout  # the old quote at t=15 was ignored


def test_a_bad_quote_is_reported_and_changes_nothing(tmp_path: Path) -> None:
    f = tmp_path / "badquote.jsonl"
    rows = [
        {"t": 1, "type": "account", "account": "a"},
        {"t": 2, "type": "quote", "symbol": "BTC_USDC", "bid": "100", "ask": "101"},
        {"t": 3, "type": "quote", "symbol": "BTC_USDC", "bid": "105", "ask": "101"},
        {"t": 4, "type": "open", "account": "a", "symbol": "BTC_USDC", "side": "short",
         "leverage": "2", "qty": "1"},
    ]  # fmt: skip
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = simulate(f)
    assert res.returncode == 0
    assert "line 3: quote rejected" in res.stderr
    assert '"price": "100.0"' in res.stdout


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    res = simulate(tmp_path / "missing.jsonl")
    assert res.returncode == 2 and "cannot read" in res.stderr


def _journal(tmp_path: Path, *parts: list[bytes]) -> list[Path]:
    """A journal directory of segments holding `parts` (lines, newline-terminated)."""
    d = tmp_path / "journal"
    d.mkdir()
    paths, first = [], 1
    for lines in parts:
        p = d / f"journal-{first:012d}.jsonl"
        p.write_bytes(b"".join(lines))
        paths.append(p)
        first += len(lines)
    return paths


def _example_lines() -> list[bytes]:
    return EXAMPLE.read_bytes().splitlines(keepends=True)


def test_a_journal_with_a_torn_tail_runs_with_a_warning(tmp_path: Path) -> None:
    lines = _example_lines()
    a, b = _journal(tmp_path, lines[:3], lines[3:])
    b.write_bytes(b.read_bytes() + b'{"t": 1723161299000000, "type": "dep')
    res = simulate(tmp_path / "journal")
    assert res.returncode == 0, res.stderr
    assert res.stdout == simulate(EXAMPLE).stdout
    assert f"journal tail left out: line {len(lines) - 2} of {b} byte" in res.stderr
    solo = tmp_path / "journal-000000000001.jsonl"  # a segment on its own: the same
    solo.write_bytes(b"".join(lines) + b"\0" * 64)
    one = simulate(solo)
    assert one.returncode == 0 and one.stdout == res.stdout
    assert f"journal tail left out: line {len(lines) + 1} of {solo} byte" in one.stderr


def test_journal_errors_name_the_segment_line_and_record(tmp_path: Path) -> None:
    lines = _example_lines()
    lines[4] = b'{"t": 1723161255000000, "type": "teleport"}\n'
    _, b = _journal(tmp_path, lines[:3], lines[3:])
    res = simulate(tmp_path / "journal")
    assert res.returncode == 2
    assert f"{b}: line 2 (record 5): unknown input type 'teleport'" in res.stderr


def test_damage_in_a_journal_is_an_error_naming_the_segment_and_byte(tmp_path: Path) -> None:
    lines = _example_lines()
    (a,) = _journal(tmp_path, [*lines[:2], b"\x00\x01garbage\n", *lines[2:]])
    offset = len(lines[0]) + len(lines[1])
    res = simulate(tmp_path / "journal")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{a} byte {offset} (record 3) is not a valid JSON line" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_gap_between_segments_is_an_error(tmp_path: Path) -> None:
    lines = _example_lines()
    a, b = _journal(tmp_path, lines[:3], lines[3:])
    b.rename(b.with_name("journal-000000000006.jsonl"))
    res = simulate(tmp_path / "journal")
    assert res.returncode == 2 and "records 4 to 5 are missing" in res.stderr


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"PK\x03\x04\x00\x00binary\xff\xfe\n\x00", "line 1: binary data (NUL bytes)"),
     (b'{"t": 0, "type": "account", "account": "z"}\n{"t": 1, "type": "\xe9"}\n',
      "line 2: not UTF-8 text")],
)  # fmt: skip
def test_a_binary_or_non_utf8_file_is_one_clear_line(
    tmp_path: Path, data: bytes, message: str
) -> None:
    f = tmp_path / "ticks.parquet"
    f.write_bytes(data)
    res = simulate(f)
    assert res.returncode == 2
    assert res.stderr == f"workbench simulate: {f}: {message}" + res.stderr.split(message)[1]
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
