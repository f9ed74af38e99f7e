"""A backtest's events equal `workbench simulate` on the scenario it recorded, byte for byte.

Each run is done twice: on the fast path (quotes in bulk) and in recording mode (quote by
quote, writing the scenario); both must give the same events, and `workbench simulate` on
the recorded file must print exactly the backtest's event lines.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ticks_helpers import CAPTURES

from workbench.backtest import Result, Strategy, backtest
from workbench.backtest.examples import Bracket, SmaCross
from workbench.domain import Instrument
from workbench.feeds.synthetic import SyntheticFeed
from workbench.importers.hftbacktest import import_captures
from workbench.scenario import run as simulate_run
from workbench.store.schema import connect

DAY = 86_400_000_000
MIN = 60_000_000
T0 = 1_723_075_200_000_000  # 2024-08-08 00:00:00 UTC


def same_as_simulate(
    tmp_path: Path, make: Callable[[], Any], data: Any, *, cli: bool = False, **kw: Any
) -> Result:
    """Run fast and recorded; check both against `workbench simulate`; return the fast run."""
    rec = tmp_path / "recorded.jsonl"
    recorded = backtest(make(), data, record=rec, **kw)
    fast = backtest(make(), data, **kw)
    assert fast.raw_events == recorded.raw_events
    if cli:
        exe = Path(sys.executable).parent / "workbench"  # .venv/bin/workbench
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "workbench.cli"]
        res = subprocess.run(
            [*cmd, "simulate", str(rec)], capture_output=True, text=True, timeout=120, check=True
        )
        lines = res.stdout.splitlines()
    else:
        out = io.StringIO()
        with open(rec, encoding="utf-8") as f:
            simulate_run(f, out, warn=io.StringIO())
        lines = out.getvalue().splitlines()
    assert lines == recorded.event_lines()
    assert lines == fast.event_lines()
    return fast


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The real captures in a tick store (SIMULATED quotes when they are absent)."""
    path = tmp_path_factory.mktemp("store") / "ticks.duckdb"
    con = connect(path)
    if CAPTURES:
        import_captures(con, CAPTURES)
        symbols = ["BTCUSDT", "ETHUSDT"]
    else:
        feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=5)
        feed.write(con, 30_000)
        symbols = list(feed.symbols)
    con.close()
    return path, symbols


def test_store_run_matches_simulate_cli_byte_for_byte(
    tmp_path: Path, store_path: tuple[Path, list[str]]
) -> None:
    path, symbols = store_path
    btc, eth = symbols

    def make() -> dict[str, Any]:
        return {
            "iso": Bracket(btc, "0.0003", "50", margin="200"),
            "cross": Bracket(eth, "0.0005", "100", margin="300", side="short"),
            "bars": SmaCross(3, 8, "20", "100"),
        }

    accounts = {
        "iso": {"maintenance_rate": "0.05"},
        "bars": {"balance": "2000"},
        "cross": {"margin_mode": "cross", "balance": "1000"},
    }
    res = same_as_simulate(
        tmp_path, make, path, cli=True, symbols=symbols, accounts=accounts, bars="5s"
    )
    kinds = Counter(e["type"] for e in res.raw_events)
    assert kinds["opened"] > 30 and kinds["closed"] > 30
    assert {e["account"] for e in res.raw_events} == {"iso", "cross", "bars"}


class Gambler(Strategy):
    """Per-quote strategy at very high leverage: liquidations, stop-outs, manual closes."""

    def __init__(self) -> None:
        self.n = 0

    def on_quote(self, ctx: Any, quote: Any) -> None:
        self.n += 1
        if self.n % 97 == 0:
            side = "long" if self.n % 2 else "short"
            ctx.open(quote.symbol, side, "400", margin="40")
        if self.n % 450 == 0:
            for p in ctx.positions()[:1]:
                ctx.close(p["ref"])


def test_per_quote_liquidations_stop_outs_fees_markup_match_simulate(tmp_path: Path) -> None:
    feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=11, mean_interval_ms=250)
    data = feed.generate(6_000).to_arrow()
    insts = [
        Instrument("SIM_BTC_USDC", Decimal("0.1"), Decimal(500), Decimal("0.0004"), Decimal(2)),
        Instrument("SIM_ETH_USDC", Decimal("0.01"), Decimal(500), Decimal("0.0002")),
    ]
    accounts = {
        "iso": {"margin_mode": "isolated", "balance": "3000"},
        "cross": {
            "margin_mode": "cross",
            "balance": "600",
            "margin_call_level": "150",
            "stop_out_level": "80",
        },
    }
    res = same_as_simulate(tmp_path, Gambler, data, instruments=insts, accounts=accounts)
    reasons = Counter(e.get("reason") for e in res.raw_events if e["type"] == "closed")
    assert reasons["liquidation"] > 0 and reasons["stop_out"] > 0 and reasons["manual"] > 0
    assert any(e["type"] == "margin_call" for e in res.raw_events)
    assert any(Decimal(e["fee"]) > 0 for e in res.raw_events if e["type"] == "opened")


def swap_quotes(days: int = 3, step_min: int = 7) -> list[tuple[str, int, str, str]]:
    """A random walk every `step_min` minutes over `days` days: some quotes fall exactly on
    a 22:00:00 rollover, others jump over one."""
    rng = np.random.default_rng(3)
    n = days * 24 * 60 // step_min
    mids = 60_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    out = []
    for i, m in enumerate(mids):
        bid = Decimal(int(m * 10)) / 10
        out.append(("SWP", T0 + i * step_min * MIN, str(bid), str(bid + Decimal("0.5"))))
    roll = T0 + 22 * 60 * MIN
    out.append(("SWP", roll - 5_000_000, "59991.0", "59991.5"))  # fresh at the rollover
    out.append(("SWP", roll, "59990.0", "59990.5"))  # exactly at the rollover
    out.append(("SWP", roll + DAY - 3_000_000, "59991.0", "59991.5"))  # fresh, none at 22:00
    return sorted(out, key=lambda q: q[1])


class SwapHopper(Strategy):
    """Reacts to swap charges from inside the engine: closes and flips at the rollover."""

    def on_start(self, ctx: Any) -> None:
        ctx.open("SWP", "long", "5", margin="500")

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "swap":
            ctx.close(ev["ref"])
            ctx.open("SWP", "short" if Decimal(ev["amount"]) > 0 else "long", "5", margin="500")
        elif ev["type"] == "closed" and ev["reason"] in ("take_profit", "stop_loss"):
            ctx.open("SWP", "long", "5", margin="500")


class HourlyBars(SwapHopper):
    """The same, plus an order at each hourly bar's end (a command crossing a rollover)."""

    bars = "1h"

    def on_bar(self, ctx: Any, bar: Any) -> None:
        if len(ctx.positions()) < 3:
            ctx.open("SWP", "long", "3", margin="100", stop_loss=str(bar.low - 50))


SWAP_INSTRUMENT = Instrument(
    "SWP",
    Decimal("0.1"),
    Decimal(100),
    Decimal("0.0001"),
    swap_long=Decimal("0.001"),
    swap_short=Decimal("-0.0004"),
)


@pytest.mark.parametrize("strategy", [SwapHopper, HourlyBars])
def test_swaps_and_commands_at_rollovers_match_simulate(tmp_path: Path, strategy: type) -> None:
    quotes = swap_quotes()
    res = same_as_simulate(
        tmp_path,
        strategy,
        quotes,
        instruments=[SWAP_INSTRUMENT],
        accounts={"a": {}, "b": {"margin_mode": "cross"}},
    )
    swaps = [e for e in res.raw_events if e["type"] == "swap"]
    assert len(swaps) >= 4
    for roll in (T0 + 22 * 60 * MIN, T0 + DAY + 22 * 60 * MIN):
        assert any(e["t"] == roll and e["type"] == "opened" for e in res.raw_events)
        assert any(e["t"] == roll and e["type"] == "swap" for e in res.raw_events)
