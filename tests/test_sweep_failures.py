"""A sweep's failures reach the caller as what they are, naming the run; what a sweep
cannot run is refused before any run; runs that made no trades are flagged."""

from __future__ import annotations

import os
import threading
import traceback
from typing import Any

import pyarrow as pa
import pytest

from workbench.backtest import NoQuotesError, Strategy, sweep
from workbench.backtest.examples import Bracket
from workbench.backtest.pool import WorkerDied
from workbench.backtest.tasks import WorkerTraceback
from workbench.feeds.synthetic import SyntheticFeed

START = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC
MINUTE = 60_000_000


@pytest.fixture(scope="module")
def ticks() -> pa.Table:
    return SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=6).generate(1_000).to_arrow()


class Picky(Strategy):
    """Opens a position; `band="bad"` raises in on_start, `"die"` ends its process."""

    def __init__(self, band: str = "0.001") -> None:
        self.band = band

    def on_start(self, ctx: Any) -> None:
        if self.band == "bad":
            raise ValueError(f"band {self.band!r} is not a number")
        if self.band == "die":
            os._exit(3)
        ctx.open(ctx.symbols[0], "long", "10", qty="0.01")


@pytest.mark.parametrize("mode", ["pool", "inline"])
def test_a_run_s_exception_reaches_the_caller_as_itself(ticks: pa.Table, mode: str) -> None:
    with pytest.raises(ValueError) as e:
        sweep(Picky, {"band": ["0.001", "bad"]}, ticks, symbols=["SIM_BTC_USDC"], workers=2,
              mode=mode, progress=False)  # fmt: skip
    assert type(e.value) is ValueError and str(e.value) == "band 'bad' is not a number"
    note = "raised in sweep run 1 (band='bad'; SIM_BTC_USDC)"
    assert any(n.startswith(note) for n in e.value.__notes__), e.value.__notes__
    text = "".join(traceback.format_exception(e.value))
    assert 'raise ValueError(f"band {self.band!r} is not a number")' in text
    assert "in on_start" in text
    if mode == "pool":
        assert isinstance(e.value.__cause__, WorkerTraceback)
        assert "the worker's traceback is above" in e.value.__notes__[0]


def test_a_worker_that_dies_names_its_run(ticks: pa.Table) -> None:
    with pytest.raises(WorkerDied) as e:
        sweep(Picky, {"band": ["die"]}, ticks, symbols=["SIM_ETH_USDC"], workers=2, mode="pool",
              progress=False)  # fmt: skip
    assert str(e.value).startswith(
        "a sweep worker process died (exit code 3) while it ran run 0 (band='die'; SIM_ETH_USDC)"
    )


class Unrebuildable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickles, but cannot be rebuilt from args
        super().__init__(f"{a} and {b}")


class RaisesOdd(Strategy):
    def __init__(self, x: int = 0) -> None:
        self.x = x

    def on_start(self, ctx: Any) -> None:
        raise Unrebuildable(1, self.x)


def test_an_exception_that_cannot_travel_comes_back_by_name(ticks: pa.Table) -> None:
    with pytest.raises(RuntimeError) as e:
        sweep(RaisesOdd, {"x": [2]}, ticks, symbols=["SIM_BTC_USDC"], workers=1, mode="pool",
              progress=False)  # fmt: skip
    assert str(e.value) == "test_sweep_failures.Unrebuildable: 1 and 2"
    assert "raise Unrebuildable(1, self.x)" in str(e.value.__cause__)


def test_a_factory_that_cannot_travel_is_refused_with_a_way_out(ticks: pa.Table) -> None:
    lock = threading.Lock()

    def locked(band: str) -> Bracket:
        with lock:
            return Bracket(band=band)

    way_out = r"cannot send run 0 .* Run it in this process with mode='inline'"
    with pytest.raises(TypeError, match=way_out):
        sweep(locked, {"band": ["0.001"]}, ticks, workers=2, mode="pool", progress=False)
    table = sweep(locked, {"band": ["0.001"]}, ticks, mode="inline", progress=False)
    assert table.height == 2 and table.plan is not None and table.plan.mode == "inline"


def test_what_a_sweep_cannot_run_is_refused_before_any_run(ticks: pa.Table) -> None:
    typo = r"no quotes for BTC_USDC .*did you mean SIM_BTC_USDC\?"
    with pytest.raises(NoQuotesError, match=typo):
        sweep(Picky, {"band": ["bad"]}, ticks, symbols=["BTC_USDC"], progress=False)
    later = [(START, START + MINUTE), ("2024-03-01", "2024-03-02")]
    days = r"no quotes for SIM_BTC_USDC in \[2024-03-01 .*: its quotes are on 2024-01-01 to 2024"
    with pytest.raises(NoQuotesError, match=days):
        sweep(Picky, {"band": ["bad"]}, ticks, ranges=later, progress=False)
    for bad, match in [
        ({"mode": "fast"}, "mode must be"),
        ({"mode": "pool", "workers": 0}, "needs workers >= 1"),
        ({"mode": "pool", "ray": "local"}, "leave ray= out"),
        ({"workers": -1}, "workers must be 0"),
        ({"symbols": "SIM_BTC_USDC"}, "a list of symbols"),
        ({"symbols": [["SIM_BTC_USDC", 3]]}, "a symbol or a list of symbols"),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            sweep(Picky, {"band": ["bad"]}, ticks, progress=False, **bad)


class Spread(Strategy):
    """Long BTC, short ETH, once both have a price: it needs both symbols in one run."""

    def __init__(self, leverage: str = "10") -> None:
        self.leverage = leverage

    def on_start(self, ctx: Any) -> None:
        btc, eth = ctx.last_quote("SIM_BTC_USDC"), ctx.last_quote("SIM_ETH_USDC")
        if btc is None or eth is None:
            return
        ctx.open("SIM_BTC_USDC", "long", self.leverage, qty="0.01")
        ctx.open("SIM_ETH_USDC", "short", self.leverage, qty="0.1")


class DeclaredSpread(Spread):
    symbols = ("SIM_BTC_USDC", "SIM_ETH_USDC")


def test_declared_symbols_run_together_and_a_split_pair_is_flagged(ticks: pa.Table) -> None:
    grid = {"leverage": ["5", "10"]}
    together = sweep(DeclaredSpread, grid, ticks, workers=0, progress=False)
    assert together["symbol"].to_list() == ["SIM_BTC_USDC,SIM_ETH_USDC"] * 2
    assert together["warning"].to_list() == [None, None]
    assert together["end_equity"].to_list() != together["start_balance"].to_list()  # it traded
    grouped = sweep(Spread, grid, ticks, symbols=[("SIM_BTC_USDC", "SIM_ETH_USDC")],
                    workers=0, progress=False)  # fmt: skip
    assert grouped.equals(together)
    with pytest.raises(ValueError, match="unknown symbol 'SIM_ETH_USDC'") as e:
        sweep(Spread, grid, ticks, workers=0, progress=False)  # one run per symbol
    assert e.value.__notes__[0] == (
        "this run has SIM_BTC_USDC: a strategy that needs several symbols in one run declares "
        "them, e.g. symbols = ('SIM_BTC_USDC', 'SIM_ETH_USDC')"
    )


def test_runs_without_trades_are_flagged_in_the_table_and_one_warning(
    ticks: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    grid = {"band": ["0.001", "0.002"]}
    flagged = r"^4 of 4 runs warned \(see the `warning` column\); run 0"
    with pytest.warns(UserWarning, match=flagged):
        table = sweep(Bracket, grid, ticks, workers=0, progress=False, balance="0")
    assert table["warning"].null_count() == 0
    assert "every command was rejected (1 in all); the first: open o1" in table["warning"][0]
    assert "insufficient_margin" in table["warning"][0]
    assert table["rejected"].to_list() == [1, 1, 1, 1]  # counted, not logged line by line
    assert not [r for r in caplog.records if "rejected at t=" in r.getMessage()]
