"""The seeded synthetic feed: deterministic, plausible, and labelled SIMULATED everywhere."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from ticks_helpers import store

from workbench.cli import main
from workbench.domain import Instrument
from workbench.engine import Engine
from workbench.feeds.synthetic import (
    GAP_REASON,
    LABEL,
    SOURCE,
    SymbolSpec,
    SyntheticFeed,
    is_simulated,
)
from workbench.store.reader import iter_quotes


def arrays(d) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    return [d.code, d.t, d.bid, d.ask, d.bid_qty, d.ask_qty, d.update_id]


def test_same_seed_same_quotes_other_seed_other_quotes() -> None:
    a = SyntheticFeed(seed=7).generate(5_000)
    b = SyntheticFeed(seed=7).generate(5_000)
    c = SyntheticFeed(seed=8).generate(5_000)
    assert all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b), strict=True))
    assert a.gaps == b.gaps
    assert not np.array_equal(a.bid, c.bid)
    assert a.label == LABEL == "SIMULATED"


def test_quotes_are_plausible() -> None:
    spec = SymbolSpec("BTC_USDC", Decimal(60_000), Decimal("0.1"), vol=0.6)
    d = SyntheticFeed([spec], seed=3, gaps_per_hour=20).generate(50_000)
    assert d.symbols == ("SIM_BTC_USDC",)
    tick = 10_000_000  # 0.1 in 1e-8 units
    assert np.all(d.bid % tick == 0) and np.all(d.ask % tick == 0)
    assert np.all(d.ask - d.bid >= tick) and np.all(d.bid > 0)
    assert np.all(np.diff(d.t) >= 1) and np.all(np.diff(d.update_id) == 1)
    assert np.all(d.bid_qty > 0) and np.all(d.bid_qty % 1000 == 0)  # qty step 0.00001
    mid = (d.bid + d.ask) / 2e8
    assert mid.min() > 50_000 and mid.max() < 72_000  # ~1.4 h of 60% vol around 60k
    rets = np.diff(np.log(mid))
    kurt = float(np.mean((rets - rets.mean()) ** 4) / rets.var() ** 2)
    assert kurt > 3.5  # regime switching gives fatter tails than one Gaussian
    assert len(d.gaps) >= 5
    for sym, a, b in d.gaps:
        assert sym == "SIM_BTC_USDC" and b - a >= 5_000_000
        assert not np.any((d.t > a) & (d.t < b))  # no quote inside a gap


def test_written_rows_say_simulated_and_rewrite_is_idempotent(tmp_path: Path) -> None:
    con = store(tmp_path)
    feed = SyntheticFeed(["BTC_USDC", "DOGE_USDC"], seed=1, gaps_per_hour=30)
    res = feed.write(con, 2_000)
    assert (res.quotes, res.quotes_read) == (4_000, 4_000)
    assert feed.write(con, 2_000).quotes == 0
    rows = con.execute(
        "SELECT symbol, source, count(*) FROM quotes GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert rows == [("SIM_BTC_USDC", SOURCE, 2_000), ("SIM_DOGE_USDC", SOURCE, 2_000)]
    assert all(is_simulated(s) for s, *_ in rows) and SOURCE == "synthetic"
    gaps = con.execute("SELECT DISTINCT reason, source FROM gaps").fetchall()
    assert gaps == [(GAP_REASON, SOURCE)] and "SIMULATED" in GAP_REASON
    # The records and the stored rows agree exactly.
    first = next(feed.generate(2_000).quotes())
    row = con.execute(
        "SELECT symbol, t, bid, ask, bid_qty FROM quotes ORDER BY t, symbol LIMIT 1"
    ).fetchall()[0]
    assert row == (first.symbol, first.t, first.bid, first.ask, first.bid_qty)


def test_engine_accepts_every_synthetic_quote(tmp_path: Path) -> None:
    con = store(tmp_path)
    feed = SyntheticFeed(seed=5)
    feed.write(con, 3_000)
    eng = Engine([Instrument(s) for s in feed.symbols])
    sids = [eng.symbol_id(s) for s in feed.symbols]
    for chunk in iter_quotes(con, list(feed.symbols), sids=sids):
        eng.feed_quotes(chunk.sids, chunk.ts, chunk.bids, chunk.asks)
    assert (eng.quotes, eng.bad_quotes, eng.ignored_quotes) == (9_000, 0, 0)


def test_cli_synthetic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.duckdb"
    with pytest.raises(SystemExit) as done:
        main(["import", "synthetic", "--symbol", "ETH_USDC", "--quotes", "500", "--db", str(db)])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "SIMULATED data: symbols SIM_ETH_USDC" in out and "500 quotes (500 new)" in out
