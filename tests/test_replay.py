"""Reading stored quotes in time order and replaying them into a real Engine."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from ticks_helpers import CAPTURES, T0, add, q, store

from workbench.domain import Instrument
from workbench.engine import Engine
from workbench.importers.hftbacktest import import_captures
from workbench.replay import Replay, ReplayProgress
from workbench.store.reader import count_quotes, iter_quotes, quotes_frame, trades_frame

S = 1_000_000


def two_symbols(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A and B interleaved, with equal times inside and across symbols."""
    con = store(tmp_path)
    add(
        con,
        [
            q("A", T0 + 3 * S, "10.00", "10.02", 1),
            q("A", T0 + 1 * S, "10.00", "10.01", 2),
            q("A", T0 + 3 * S, "10.01", "10.03", 3),
            q("A", T0 + 5 * S, "10.02", "10.04", 4),
        ],
    )
    add(con, [q("B", T0 + 1 * S, "20.00", "20.05", 1), q("B", T0 + 3 * S, "20.01", "20.06", 2),
              q("B", T0 + 4 * S, "20.02", "20.07", 3)])  # fmt: skip
    return con


def test_order_is_time_then_symbol_order_then_insertion(tmp_path: Path) -> None:
    con = two_symbols(tmp_path)
    chunks = list(iter_quotes(con, ["B", "A"], sids=[7, 9], chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    got = [(s, t - T0, b) for c in chunks for s, t, b in zip(c.sids, c.ts, c.bids, strict=True)]
    assert got == [
        (7, 1 * S, 2_000_000_000), (9, 1 * S, 1_000_000_000),
        (7, 3 * S, 2_001_000_000), (9, 3 * S, 1_000_000_000), (9, 3 * S, 1_001_000_000),
        (7, 4 * S, 2_002_000_000), (9, 5 * S, 1_002_000_000),
    ]  # fmt: skip
    # Asking in the other symbol order flips the tie at equal times, nothing else.
    flat = [(s, t) for c in iter_quotes(con, ["A", "B"]) for s, t in zip(c.sids, c.ts, strict=True)]
    assert flat[:2] == [(0, T0 + S), (1, T0 + S)]
    # Half-open ranges, in µs or ISO time.
    mid = list(iter_quotes(con, ["A", "B"], T0 + 3 * S, T0 + 5 * S))
    assert sorted(t - T0 for c in mid for t in c.ts) == [3 * S, 3 * S, 3 * S, 4 * S]
    assert count_quotes(con, ["A"], "2024-08-09T00:00:03Z") == 3
    assert count_quotes(con, ["A", "B"], end="2024-08-09T00:00:03+00:00") == 2


def test_frames_for_notebooks_keep_exact_decimals(tmp_path: Path) -> None:
    con = two_symbols(tmp_path)
    pl_frame = quotes_frame(con, ["A"])
    assert pl_frame["bid"].to_list()[:2] == [Decimal("10.00"), Decimal("10.00")]
    assert pl_frame["mid"].to_list()[0] == Decimal("10.005")
    pd_frame = quotes_frame(con, ["A", "B"], backend="pandas")
    assert list(pd_frame["symbol"][:2]) == ["A", "B"] and pd_frame["ask"][0] == Decimal("10.01")
    assert str(pd_frame["time"][0]) == "2024-08-09 00:00:01+00:00"
    assert len(trades_frame(con, ["A"])) == 0


def engine_ab() -> tuple[Engine, list[dict]]:
    eng = Engine([Instrument("A", tick_size=Decimal("0.01")), Instrument("B")])
    events: list[dict] = []
    eng.subscribe(events.append)
    eng.create_account("alice", balance="1000")
    return eng, events


def test_replay_drives_the_engine_to_a_take_profit(tmp_path: Path) -> None:
    con = two_symbols(tmp_path)
    eng, events = engine_ab()
    first = Replay(eng, con, ["A", "B"], end=T0 + 2 * S).run()
    assert (first.fed, first.accepted) == (2, 2)
    opened = eng.open("alice", "A", "long", "10", margin="100", take_profit="10.01", t=T0 + 2 * S)
    assert opened["type"] == "opened" and opened["price"] == "10.01"
    rest = Replay(eng, con, ["A", "B"], start=T0 + 2 * S).run()
    assert (rest.fed, rest.total) == (5, 5)
    closed = [e for e in events if e["type"] == "closed"]
    # The first A bid at or above 10.01 is the third A quote at T0+3s (the second at 3s).
    assert [(e["ref"], e["reason"], e["t"], e["price"]) for e in closed] == [
        (opened["ref"], "take_profit", T0 + 3 * S, "10.01")
    ]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    con = store(tmp_path_factory.mktemp("replay"))
    import_captures(con, CAPTURES)
    return con


@pytest.mark.real_data
def test_replay_of_real_data_hits_the_stop_loss_at_the_right_quote(
    real: duckdb.DuckDBPyConnection,
) -> None:
    eng = Engine([Instrument("BTCUSDT"), Instrument("ETHUSDT")])
    events: list[dict] = []
    eng.subscribe(events.append)
    eng.create_account("bob", balance="10000")
    start = real.execute("SELECT min(t) + 60000000 FROM quotes").fetchall()[0][0]
    warm = Replay(eng, real, ["BTCUSDT", "ETHUSDT"], end=start).run()
    assert warm.fed == warm.total > 1000
    bid = eng.books[eng.symbol_id("BTCUSDT")].bid
    sl = (bid - 20 * 10**8) / 10**8  # 20 USDT under the bid
    ev = eng.open("bob", "BTCUSDT", "long", "5", margin="100", stop_loss=str(sl), t=start)
    assert ev["type"] == "opened"
    # The expected close, found independently: the first later BTC bid at or under the stop.
    exp_t, exp_bid = real.execute(
        "SELECT t, bid FROM quotes WHERE symbol = 'BTCUSDT' AND t >= $s AND bid <= $sl"
        " ORDER BY t, rowid LIMIT 1", {"s": start, "sl": Decimal(str(sl))}
    ).fetchall()[0]  # fmt: skip
    seen: list[ReplayProgress] = []
    done = Replay(eng, real, ["BTCUSDT", "ETHUSDT"], start=start, progress=seen.append).run()
    assert done.fed == done.total and seen[-1].fed == done.fed
    closed = [e for e in events if e["type"] == "closed"]
    assert len(closed) == 1
    assert (closed[0]["reason"], closed[0]["t"]) == ("stop_loss", exp_t)
    assert Decimal(closed[0]["price"]) == exp_bid


class FakeClock:
    """Wall time that passes only when the replay sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s
        self.slept += s


def test_paced_replay_takes_span_over_speed(tmp_path: Path) -> None:
    con = two_symbols(tmp_path)
    for speed in (1.0, 4.0):
        eng, _ = engine_ab()
        clock = FakeClock()
        fed_at: list[tuple[float, int]] = []
        rp = Replay(eng, con, ["A", "B"], speed=speed, clock=clock, sleep=clock.sleep,
                    progress=lambda p, c=clock, f=fed_at: f.append((c.now, p.fed)))  # fmt: skip
        res = rp.run()
        assert res.fed == 7
        assert clock.slept == pytest.approx(4.0 / speed, abs=1e-6)  # quotes span 1s..5s
        # the quote at +4s (6th) was not fed before 3s/speed of wall time had passed
        assert all(now - 100.0 >= 3.0 / speed - 1e-9 for now, fed in fed_at if fed >= 6)


def test_pause_resume_and_stop_in_a_background_thread(tmp_path: Path) -> None:
    con = store(tmp_path)
    add(con, [q("A", T0 + i * 10_000, "10.00", "10.01", i) for i in range(60)])  # 0.6 s of quotes
    eng, _ = engine_ab()
    rp = Replay(eng, con, ["A"], speed=1.0)
    rp.start()
    deadline = time.monotonic() + 10
    while rp.fed == 0 and time.monotonic() < deadline:
        time.sleep(0.002)
    rp.pause()
    time.sleep(0.05)
    held = rp.fed
    time.sleep(0.2)
    assert rp.paused and rp.fed == held and 0 < held < 60
    started = time.monotonic()
    rp.resume()
    done = rp.join(10)
    assert done.fed == 60 and eng.quotes == 60
    assert time.monotonic() - started > 0.25  # the rest still ran at 1x, pause not counted
    # stop() (here from the progress hook) ends a replay early; the engine keeps what it got.
    eng2, _ = engine_ab()
    rp2: Replay = Replay(
        eng2, con, ["A"], speed=100.0, progress=lambda p: rp2.stop() if p.fed >= 10 else None
    )
    part = rp2.run()
    assert rp2.stopped and 10 <= part.fed < 60 and eng2.quotes == part.fed


def test_unknown_symbol_and_progress_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    con = two_symbols(tmp_path)
    with pytest.raises(Exception, match="unknown symbol 'A'"):
        Replay(Engine(), con, ["A"])
    eng = Engine()
    res = Replay(eng, con, ["A", "B"], add_missing=True, progress=True).run()
    assert res.accepted == 7 and eng.instrument("B").symbol == "B"
    assert "7.00/7.00" in capsys.readouterr().err
