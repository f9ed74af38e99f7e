"""Result.save / Result.load (a folder of Parquet + meta.json), pickle, float views."""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

from workbench.backtest import Result, Strategy, backtest
from workbench.backtest.examples import Bracket
from workbench.backtest.result import FRAMES
from workbench.domain import Instrument
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.schema import connect

D = Decimal
S = 1_000_000
T0 = 1_723_161_600_000_000  # 2024-08-09 00:00:00 UTC
X = Instrument("X", tick_size=D("0.1"))
TWO = D("2")


class Busy(Strategy):
    """A position reduced then closed, a limit order filled, one cancelled, a rejection."""

    def __init__(self, limit: str = "95", size: Decimal = TWO) -> None:
        self.limit = limit
        self.size = size
        self.levels = [1, 2]

    def on_start(self, ctx: Any) -> None:
        ctx.open("X", "long", "10", qty=self.size)
        ctx.order("X", "long", "limit", self.limit, "10", qty="1")
        ctx.order("X", "short", "limit", "130", "10", qty="1")
        ctx.close("nope")  # rejected: unknown_position

    def on_quote(self, ctx: Any, quote: Any) -> None:
        if quote.t == T0 + 30 * S:
            ctx.close("o1", qty="1")
        elif quote.t == T0 + 90 * S:
            ctx.close("o1")
            ctx.cancel("o3")


QUOTES = [
    ("X", T0, "100.0", "100.1"),
    ("X", T0 + 30 * S, "101.0", "101.1"),
    ("X", T0 + 60 * S, "94.0", "94.1"),
    ("X", T0 + 90 * S, "97.0", "97.1"),
    ("X", T0 + 120 * S, "98.0", "98.1"),
]


def run() -> Result:
    return backtest(Busy, QUOTES, instruments=[X], accounts=["a", "b"], balance="1000")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    res = run()
    assert res.reductions.height == 2 and res.rejections.height == 2  # per account
    assert set(res.orders["status"]) == {"filled", "cancelled"}
    path = res.save(tmp_path / "run")
    names = {p.name for p in path.iterdir()}
    assert names == {"meta.json", "raw_events.parquet"} | {
        f"{f}.parquet" for f in FRAMES if f != "margin_level"
    }
    again = Result.load(path)
    for name in FRAMES:
        assert getattr(again, name).equals(getattr(res, name)), name
    assert again.stats_rows() == res.stats_rows()  # rebuilt from what was saved
    assert again.event_lines() == res.event_lines()
    assert again.engine is None and again.params == res.params and again.marks == res.marks
    assert (again.quotes, again.symbols, again.accounts) == (res.quotes, res.symbols, res.accounts)
    assert pl.read_parquet(path / "closed.parquet").equals(res.closed)  # any reader

    meta = json.loads((path / "meta.json").read_text())
    assert meta["format"] == "workbench-backtest-result" and meta["version"] == 1
    assert meta["workbench_version"] == "0.1.0"
    assert meta["symbols"] == ["X"]
    assert meta["data_range"] == {
        "start_t": T0,
        "end_t": T0 + 120 * S,
        "start": "2024-08-09T00:00:00+00:00",
        "end": "2024-08-09T00:02:00+00:00",
    }
    assert meta["accounts"] == {
        "a": {"margin_mode": "isolated", "balance": "1000"},
        "b": {"margin_mode": "isolated", "balance": "1000"},
    }
    assert meta["params"]["a"] == {
        "strategy": "test_backtest_save.Busy",
        "params": {"limit": "95", "size": "2", "levels": [1, 2]},
    }
    assert meta["marks"]["X"] == {
        "first": {"t": T0, "bid": "100", "ask": "100.1"},
        "last": {"t": T0 + 120 * S, "bid": "98", "ask": "98.1"},
    }


def test_a_loaded_result_plots_and_reports(tmp_path: Path) -> None:
    again = Result.load(run().save(tmp_path / "run"))
    assert len(again.plot().children) == 5
    page = again.report(tmp_path / "r.html").read_text()
    assert "Busy" in page and "Sharpe Ratio" in page


@pytest.mark.filterwarnings("ignore:no trades")
def test_params_of_a_strategy_class_and_a_function() -> None:
    res = backtest(Bracket(band="0.002", qty="0.5"), QUOTES, instruments=[X])
    assert res.params["main"] == {
        "strategy": "workbench.backtest.examples.Bracket",
        "params": {
            "symbol": None,
            "band": "0.002",
            "leverage": "10",
            "qty": "0.5",
            "margin": None,
            "side": "long",
        },
    }

    def fn(ctx: Any, quote: Any) -> None:
        pass

    res = backtest(fn, QUOTES, instruments=[X])
    assert res.params["main"]["function"].endswith(
        "test_params_of_a_strategy_class_and_a_function.<locals>.fn"
    )


def test_save_never_overwrites_by_surprise(tmp_path: Path) -> None:
    res = run()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty and holds no saved result"):
        res.save(other)
    with pytest.raises(FileExistsError, match="not empty and holds no saved result"):
        res.save(other, overwrite=True)
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="it is a file"):
        res.save(tmp_path / "file")

    first = res.save(tmp_path / "run")
    before = (first / "meta.json").read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        res.save(first)
    assert (first / "meta.json").read_text() == before
    short = backtest(Busy, QUOTES[:3], instruments=[X], balance="1000")
    short.save(first, overwrite=True)
    assert Result.load(first).quotes == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "notes", "run"]  # no temp
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Result.load(res.save(empty)).quotes == 5


def test_load_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a folder"):
        Result.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="no meta.json"):
        Result.load(tmp_path)
    path = run().save(tmp_path / "run")
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(ValueError, match="format version 99; this workbench reads version 1"):
        Result.load(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read .*meta.json"):
        Result.load(path)
    (path / "meta.json").write_text(json.dumps(meta))
    (path / "fills.parquet").write_bytes(b"PAR1 torn")
    with pytest.raises(ValueError, match="cannot read .*fills.parquet"):
        Result.load(path)
    (path / "fills.parquet").unlink()
    with pytest.raises(ValueError, match="fills.parquet is missing"):
        Result.load(path)


def test_a_result_of_a_duckdb_store_pickles(tmp_path: Path) -> None:
    """The engine's listeners hold the run's DuckDB connection: pickle leaves the engine."""
    con = connect(tmp_path / "sim.duckdb")
    SyntheticFeed(["BTC_USDC"], seed=4).write(con, 2000)
    res = backtest(Bracket(band="0.0003"), con, symbols=["SIM_BTC_USDC"])
    again = pickle.loads(pickle.dumps(res))
    assert again.stats.equals(res.stats) and again.event_lines() == res.event_lines()
    assert res.engine is not None  # the original keeps its engine


def test_float_views_for_pandas() -> None:
    res = run()
    exact = res.closed.to_pandas()
    assert exact["pnl"].dtype == object  # Decimals: describe() would count, not average
    pdf = res.to_pandas("closed")
    assert pdf["pnl"].dtype == "float64" and pdf["qty"].dtype == "float64"
    desc = pdf.describe()
    assert desc.loc["mean", "pnl"] == pytest.approx(float(res.closed["pnl"].mean()))
    assert isinstance(res.to_pandas("closed", floats=False)["pnl"][0], Decimal)
    stats = res.to_pandas("stats")
    assert stats["end_equity"].dtype == "float64"
    assert pd.api.types.is_timedelta64_dtype(stats["duration"])
    assert res.frame("equity", floats=True).schema["equity"] == pl.Float64
    assert res.frame("equity").schema["equity"] == pl.Decimal(38, 16)
    with pytest.raises(ValueError, match="no frame 'trades': one of events, fills"):
        res.to_pandas("trades")
