"""Loud failures instead of silent nothing: data that lacks what a backtest asks for
raises NoQuotesError naming what is there; a run without trades warns why."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from workbench.backtest import (
    NoQuotesError,
    NoTradesWarning,
    Strategy,
    backtest,
    write_partitions,
)
from workbench.backtest.diagnose import suggest
from workbench.backtest.examples import Bracket, SmaCross
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.schema import connect

START = 1_704_067_200_000_000  # 2024-01-01 00:00 UTC, where the synthetic feed starts
MINUTE = 60_000_000


@pytest.fixture(scope="module")
def sim() -> pa.Table:
    """About 11 minutes of SIM_BTC_USDC and SIM_ETH_USDC, a quote a second on average."""
    return SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=5, mean_interval_ms=1_000).generate(
        660
    ).to_arrow()  # fmt: skip


def renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    col = table.column("symbol").to_pylist()
    return table.set_column(0, "symbol", pa.array([names.get(s, s) for s in col], pa.string()))


def test_a_typo_names_the_symbols_there_and_the_likely_one(sim: pa.Table) -> None:
    with pytest.raises(NoQuotesError) as e:
        backtest(Bracket, sim, symbols=["BTC_USDT"])
    assert str(e.value) == (
        "no quotes for BTC_USDT in the quote table; known: SIM_BTC_USDC, SIM_ETH_USDC; "
        "did you mean SIM_BTC_USDC?"
    )
    binance = renamed(sim, {"SIM_BTC_USDC": "BTCUSDT", "SIM_ETH_USDC": "ETHUSDT"})
    with pytest.raises(NoQuotesError, match=r"known: BTCUSDT, ETHUSDT; did you mean BTCUSDT\?$"):
        backtest(Bracket, binance, symbols=["BTC_USDT"])


def test_the_real_name_of_simulated_data_is_suggested(sim: pa.Table) -> None:
    with pytest.raises(
        NoQuotesError, match=r"no quotes for BTC_USDC .*did you mean SIM_BTC_USDC\?$"
    ):
        backtest(Bracket, sim, symbols=["BTC_USDC"])
    assert suggest("SIM_ETH_USDC", ["ETH_USDC", "BTC_USDC"]) == ["ETH_USDC"]
    assert suggest("btc-usdc", ["SIM_BTC_USDC", "SIM_ETH_USDC"]) == ["SIM_BTC_USDC"]
    assert suggest("DOGE_USDC", ["SIM_BTC_USDC"]) == []


def test_a_range_without_quotes_says_when_the_quotes_are(sim: pa.Table) -> None:
    with pytest.raises(NoQuotesError) as e:
        backtest(Bracket, sim, symbols=["SIM_ETH_USDC"], start="2024-02-01")
    assert str(e.value).startswith(
        "no quotes for SIM_ETH_USDC in [2024-02-01 00:00:00 UTC, the end) in the quote "
        "table; SIM_ETH_USDC has quotes from 2024-01-01 00:00:00 UTC to 2024-01-01 00:1"
    )
    with pytest.raises(
        NoQuotesError,
        match=r"^no quotes in \[the start, 2023-12-31 .* its quotes run from 2024-01-01",
    ):
        backtest(Bracket, sim, end="2023-12-31")  # fmt: skip


def test_stores_parquet_and_scenarios_are_checked_too(sim: pa.Table, tmp_path: Path) -> None:
    db = tmp_path / "ticks.duckdb"
    con = connect(db)
    SyntheticFeed(["BTC_USDC"], seed=5).write(con, 500)
    con.close()
    with pytest.raises(
        NoQuotesError,
        match=rf"in the tick store {db}; known: SIM_BTC_USDC; did you mean SIM_BTC_USDC\?",
    ):
        backtest(Bracket, str(db), symbols=["BTC_USDC"])  # fmt: skip
    with pytest.raises(NoQuotesError, match=r"\(source 'recorded'\); it holds no quotes at all"):
        backtest(Bracket, str(db), source="recorded")
    write_partitions(sim, tmp_path / "parts")
    with pytest.raises(
        NoQuotesError, match=r"in the Parquet files in .*parts/quotes \(2 files\); known"
    ):
        backtest(Bracket, tmp_path / "parts", symbols=["ETH"])  # fmt: skip
    first = renamed(sim, {}).filter(pc.equal(sim.column("symbol"), "SIM_BTC_USDC"))
    assert backtest(Bracket, tmp_path / "parts").quotes == sim.num_rows  # both symbols
    assert backtest(Bracket, first).symbols == ["SIM_BTC_USDC"]
    with pytest.raises(ValueError, match="symbols is empty"):
        backtest(Bracket, sim, symbols=[])
    with pytest.raises(TypeError, match=r"a list of symbols, such as \['SIM_BTC_USDC'\]"):
        backtest(Bracket, sim, symbols="SIM_BTC_USDC")


class Pair(Strategy):
    """Long the first symbol, short the second, once: it needs both in one run."""

    symbols = ("SIM_BTC_USDC", "SIM_ETH_USDC")

    def on_start(self, ctx: Any) -> None:
        ctx.open(self.symbols[0], "long", "10", qty="0.01")
        ctx.open(self.symbols[1], "short", "10", qty="0.1")


def test_a_strategy_runs_on_the_symbols_it_declares(sim: pa.Table) -> None:
    three = pa.concat_tables(
        [renamed(sim, {}), renamed(sim.slice(0, 10), {"SIM_BTC_USDC": "OTHER"})]
    )
    res = backtest(Pair, three)
    assert res.symbols == ["SIM_BTC_USDC", "SIM_ETH_USDC"]
    assert sorted(res.fills["symbol"].to_list()) == ["SIM_BTC_USDC", "SIM_ETH_USDC"]
    assert res.warnings == []  # type: ignore[attr-defined]

    class Elsewhere(Pair):
        symbols = ("BTC_USDC", "ETH_USDC")

    with pytest.raises(NoQuotesError, match="did you mean SIM_BTC_USDC or SIM_ETH_USDC"):
        backtest(Elsewhere, sim)


def no_trades(res: Any) -> str:
    assert len(res.warnings) == 1, res.warnings
    return str(res.warnings[0])


def test_too_few_bars_for_the_warm_up_is_said(sim: pa.Table) -> None:
    with pytest.warns(NoTradesWarning) as caught:
        res = backtest(SmaCross(5, 20), sim)
    text = no_trades(res)
    assert str(caught[0].message) == text and caught[0].filename == __file__
    assert text.startswith(
        "no trades in this backtest: SmaCross needs 20 bars to warm up (its `slow` = 20) but "
        "the run had about 11 bars of 1m (1,320 quotes from 2024-01-01 00:00:00 UTC to "
    )

    class Slow(Strategy):
        bars = "1m"
        warmup = 30

        def on_bar(self, ctx: Any, bar: Any) -> None:
            pass

    with pytest.warns(NoTradesWarning, match=r"Slow needs 30 bars to warm up \(its `warmup`\)"):
        backtest(Slow, sim)


def test_a_symbol_traded_without_quotes_is_said(sim: pa.Table) -> None:
    with pytest.warns(NoTradesWarning):
        res = backtest(Bracket("BTC_USDC"), sim, symbols=["SIM_BTC_USDC"])
    assert no_trades(res) == (
        "no trades in this backtest: Bracket uses BTC_USDC, which has no quotes in this run "
        "(it has SIM_BTC_USDC); did you mean SIM_BTC_USDC?"
    )  # Bracket finds no quote of BTC_USDC, so it never sends a command


def test_every_command_rejected_shows_the_first_reason(sim: pa.Table) -> None:
    class TooMuch(Strategy):
        def on_start(self, ctx: Any) -> None:
            for sym in ctx.symbols:
                ctx.open(sym, "long", "1000", qty="1")

    with pytest.warns(NoTradesWarning):
        res = backtest(TooMuch, sim, accounts=["a", "b"])
    assert len(res.warnings) == 2  # type: ignore[attr-defined]
    assert res.warnings[1] == (  # type: ignore[attr-defined]
        "no trades in this backtest (account b): every command was rejected (2 in all); the "
        "first: open o1 at 2024-01-01 00:00:00 UTC: invalid_order: leverage 1000 is outside "
        "1..100 for SIM_BTC_USDC"
    )


def test_a_function_that_never_trades_and_a_run_that_trades(sim: pa.Table) -> None:
    def watch(ctx: Any, quote: Any) -> None:
        pass

    with pytest.warns(
        NoTradesWarning,
        match=r"^no trades in this backtest: watch issued no command over 1,320 quotes",
    ):
        backtest(watch, sim)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        res = backtest(Bracket(band="0.0005"), sim, symbols=["SIM_BTC_USDC"])
    assert res.warnings == [] and res.stats["trades"][0] > 0  # type: ignore[attr-defined]


def test_a_symbol_asked_for_that_the_run_lacks_is_said(sim: pa.Table) -> None:
    class Hedge(Strategy):
        def on_start(self, ctx: Any) -> None:
            if ctx.last_quote("ETH_USDC") is not None:  # an instrument the engine knows
                ctx.open("ETH_USDC", "short", "10", qty="0.1")

    with pytest.warns(NoTradesWarning) as caught:
        backtest(Hedge, sim, symbols=["SIM_BTC_USDC"])
    assert str(caught[0].message) == (
        "no trades in this backtest: Hedge uses ETH_USDC, which this run does not have (it "
        "has SIM_BTC_USDC): a strategy that needs several symbols in one run declares them, "
        "e.g. symbols = ('SIM_BTC_USDC', 'ETH_USDC')"
    )
