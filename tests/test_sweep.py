"""sweep(): params x symbols x date ranges, Parquet partitions, local pool and Ray, and
where a sweep chooses to run (this process when processes would not pay)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from workbench.backtest import backtest, plan, remote, sweep
from workbench.backtest.examples import Bracket
from workbench.backtest.sweep import SweepTable, param_sets
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
    return sweep(
        Bracket, GRID, ticks, ranges=RANGES, workers=2, mode="pool", partitions=parts,
        progress=False,
    )  # fmt: skip


def test_one_row_per_run_with_params_symbol_range_and_stats(local: pl.DataFrame) -> None:
    assert local.height == 4 * 2 * 2
    assert local["run"].to_list() == list(range(16))
    assert isinstance(local, SweepTable) and local.plan is not None
    assert local.plan.mode == "pool" and local.plan.workers == 2
    assert local.columns[-1] == "warning" and local["warning"].null_count() == local.height
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
    assert first.plan is not None and first.plan.mode == "inline"


def test_a_small_sweep_runs_in_this_process_and_says_so(
    ticks: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "workbench.backtest")
    hour = [(START, START + 3_600_000_000)]  # ~1,200 quotes a run: milliseconds
    small = sweep(Bracket, GRID, ticks, ranges=hour, symbols=["SIM_BTC_USDC"], workers=2,
                  progress=False)  # fmt: skip
    assert small.plan is not None and small.plan.mode == "inline"
    assert small.plan.inline_runs == 4 and "mode='pool' forces it" in small.plan.reason
    assert f"sweep of 4 runs: {small.plan.reason}" in caplog.messages
    forced = sweep(Bracket, GRID, ticks, ranges=hour, symbols=["SIM_BTC_USDC"], workers=2,
                   mode="pool", progress=False)  # fmt: skip
    assert forced.plan is not None and forced.plan.mode == "pool"
    assert forced.equals(small) and small["trades"].min() > 0


def test_a_sweep_worth_the_processes_goes_to_the_pool(
    ticks: pa.Table, local: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(plan.START_S, ("pool", True), 0.0)  # as if processes cost nothing
    monkeypatch.setitem(plan.START_S, ("pool", False), 0.0)
    table = sweep(Bracket, GRID, ticks, ranges=RANGES, workers=2, progress=False)
    assert table.plan is not None and table.plan.mode == "pool", table.plan
    assert table.plan.inline_runs == 0 and "quotes" in table.plan.reason
    assert table.equals(local)


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


@pytest.fixture()
def ray_here() -> Iterator[object]:
    """Ray, importable; the Ray runtime the sweeps start is ended afterwards."""
    ray = pytest.importorskip("ray", reason="ray is not installed in this environment")
    remote.shutdown()
    yield ray
    remote.shutdown()


def test_ray_gives_the_same_table_and_starts_once(
    ray_here: object, ticks: pa.Table, local: pl.DataFrame, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    starts = []
    real_init = ray_here.init  # type: ignore[attr-defined]

    def counted(*args: object, **kw: object) -> object:
        starts.append(kw)
        return real_init(*args, **kw)

    monkeypatch.setattr(ray_here, "init", counted)
    parts = tmp_path / "parts"
    on_ray = sweep(Bracket, GRID, ticks, ranges=RANGES, workers=2, mode="ray", ray="local",
                   partitions=parts, progress=False)  # fmt: skip
    assert on_ray.equals(local)
    assert on_ray.plan is not None and on_ray.plan.mode == "ray"
    again = sweep(Bracket, GRID, ticks, ranges=RANGES, workers=2, mode="ray", ray="local",
                  partitions=parts, progress=False)  # fmt: skip
    assert again.equals(local)
    assert len(starts) == 1 and remote.running()  # one Ray, kept for the next sweep
    with pytest.raises(ValueError, match="one Ray runtime per process"):
        sweep(Bracket, GRID, ticks, mode="ray", ray="ray://elsewhere:10001", progress=False)
