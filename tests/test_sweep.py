"""sweep(): params x symbols x date ranges, Parquet partitions, local pool and Ray."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from workbench.backtest import backtest, sweep
from workbench.backtest.examples import Bracket
from workbench.backtest.sweep import param_sets
from workbench.feeds.synthetic import SyntheticFeed

DAY = 86_400_000_000
START = 1_704_067_200_000_000  # 2024-01-01, where the synthetic feed starts
GRID = {"band": ["0.002", "0.004"], "leverage": ["10", "50"]}
RANGES = [(START, START + DAY), (START + DAY, None)]


@pytest.fixture(scope="module")
def ticks() -> pa.Table:
    """About 30 hours of two SIMULATED symbols: two UTC days."""
    feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=8, mean_interval_ms=3_000)
    return feed.generate(36_000).to_arrow()


@pytest.fixture(scope="module")
def local(ticks: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    parts = tmp_path_factory.mktemp("parts")
    return sweep(Bracket, GRID, ticks, ranges=RANGES, workers=2, partitions=parts, progress=False)


def test_one_row_per_run_with_params_symbol_range_and_stats(local: pl.DataFrame) -> None:
    assert local.height == 4 * 2 * 2
    assert local["run"].to_list() == list(range(16))
    assert local.columns[:8] == [
        "run",
        "band",
        "leverage",
        "symbol",
        "start",
        "end",
        "quotes",
        "account",
    ]
    assert set(local["symbol"]) == {"SIM_BTC_USDC", "SIM_ETH_USDC"}
    assert set(zip(local["start"], local["end"], strict=True)) == set(RANGES)
    assert isinstance(local.schema["end_equity"], pl.Decimal)
    assert local["trades"].min() > 0 and local["quotes"].min() > 1_000


def test_a_row_equals_a_direct_backtest(ticks: pa.Table, local: pl.DataFrame) -> None:
    row = local.row(5, named=True)
    direct = backtest(
        Bracket(band=row["band"], leverage=row["leverage"]),
        ticks,
        symbols=[row["symbol"]],
        start=row["start"],
        end=row["end"],
    )
    st = direct.stats.row(0, named=True)
    assert direct.quotes == row["quotes"]
    for key in ("end_equity", "trades", "max_drawdown", "sharpe", "fees", "win_rate"):
        assert st[key] == row[key], key


def test_in_process_pool_and_cached_partitions_give_the_same_table(
    ticks: pa.Table, local: pl.DataFrame, tmp_path: Path
) -> None:
    parts = tmp_path / "parts"
    first = sweep(Bracket, GRID, ticks, ranges=RANGES, workers=0, partitions=parts, progress=False)
    files = sorted(parts.rglob("*.parquet"))
    assert [f.relative_to(parts).as_posix() for f in files] == [
        f"quotes/symbol={s}/date={d}/part-0.parquet"
        for s in ("SIM_BTC_USDC", "SIM_ETH_USDC")
        for d in ("2024-01-01", "2024-01-02")
    ]
    stamps = [f.stat().st_mtime_ns for f in files]
    again = sweep(Bracket, GRID, ticks, ranges=RANGES, workers=0, partitions=parts, progress=False)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # written once, then reused
    assert first.equals(local) and again.equals(local)


def test_random_search_is_seeded_and_draws_from_the_grid() -> None:
    grid = {"band": ["0.001", "0.002", "0.003"], "leverage": lambda r: str(r.randint(2, 20))}
    a = param_sets(grid, "random", samples=6, seed=4)
    assert a == param_sets(grid, "random", samples=6, seed=4)
    assert len(a) == 6 and all(p["band"] in grid["band"] for p in a)
    assert all(2 <= int(p["leverage"]) <= 20 for p in a)
    assert param_sets(GRID) == [
        {"band": b, "leverage": v} for b in GRID["band"] for v in GRID["leverage"]
    ]
    with pytest.raises(ValueError):
        param_sets(GRID, "random")


def test_random_sweep_runs(ticks: pa.Table, tmp_path: Path) -> None:
    table = sweep(
        Bracket,
        {"band": [Decimal("0.003"), Decimal("0.005")], "leverage": ["20"]},
        ticks,
        symbols=["SIM_ETH_USDC"],
        search="random",
        samples=3,
        seed=1,
        workers=0,
        progress=False,
    )
    assert table.height == 3 and table["symbol"].unique().to_list() == ["SIM_ETH_USDC"]
    assert isinstance(table.schema["band"], pl.Decimal)


def test_params_may_not_shadow_result_columns(ticks: pa.Table) -> None:
    with pytest.raises(ValueError, match="clash"):
        sweep(Bracket, {"symbol": ["x"]}, ticks, workers=0, progress=False)


def test_ray_gives_the_same_table(ticks: pa.Table, local: pl.DataFrame, tmp_path: Path) -> None:
    on_ray = sweep(
        Bracket,
        GRID,
        ticks,
        ranges=RANGES,
        workers=2,
        ray="local",
        partitions=tmp_path / "parts",
        progress=False,
    )
    assert on_ray.equals(local)
