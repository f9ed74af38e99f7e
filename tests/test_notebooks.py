"""Every notebook runs top to bottom on a real kernel, says what it should, and matches its
builder (notebooks/build_notebooks.py, cells in notebooks/cells/), committed without outputs.

The notebooks that use the real captures run twice: as the checkout is (real captures when
../shared/data or $WORKBENCH_SHARED_DATA has them), and with $WORKBENCH_SHARED_DATA
pointing at an empty folder, where they must fall back to simulated ticks and say so.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from workbench.demo import shared_captures

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
BOKEH_PLOT = "application/vnd.bokehjs_exec.v0+json"


def builder() -> ModuleType:
    path = NOTEBOOKS / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("build_notebooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(name: str, env: dict[str, str] | None = None) -> tuple[str, list[Any]]:
    """Run a notebook on a fresh kernel; its printed text and all its outputs."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})  # fmt: skip
    client.execute(env={**os.environ, **(env or {})})
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert not stderr, f"{name} wrote to stderr:\n{stderr}"
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    return text, outputs


def data_line(text: str, real: bool) -> None:
    first = text.splitlines()[0]
    label = "data: REAL Binance captures" if real else "data: SIMULATED"
    assert first.startswith(label), first


def check_record(text: str, real: bool) -> None:
    published = re.search(r"published (\d+) quotes and (\d+) trades", text)
    recorded = re.search(r"recorded (\d+) quotes and (\d+) trades", text)
    assert published and recorded, text
    assert int(recorded[1]) > 0 and int(recorded[2]) > 0
    assert recorded.groups() == published.groups()  # every frame sent was stored, once
    assert "duplicates 0, gaps 0, errors 0" in text
    assert re.search(r"(\d+) quotes already readable from the Parquet mirror", text)


def check_rules(text: str, real: bool) -> None:
    # The numbers of docs/rules.md sections 9 to 11, as the engine's events print them.
    for expected in [
        "reason liquidation  price 60650.0  pnl -96.033645114",  # maintenance rate 5 %
        "reason liquidation  price 60500.0  pnl -100  balance 4900",  # capped at the margin
        "upnl -108.162168114, but the close charges -100",
        "margin_call  account bob  margin_level 50.00",
        "margin_call  account bob  margin_level 37.50",
        "margin_call  account carol  margin_level 31.24",
        "ref btc  reason stop_out  price 58250.0  pnl -875  balance 125",
        "still open: 1 position",  # the ETH long survives the stop-out
        "ref btc  reason stop_out  price 57000.0  pnl -1500  balance -500",
        "ref eth  reason stop_out  price 2500.01  pnl -0.02  balance 0  written_off 500.02",
    ]:
        assert expected in text, expected
    check_orders(text)


def check_orders(text: str) -> None:
    # Section 5 (docs/rules.md 17 and 18): a buy limit filled at the ask after a gap, its
    # trailing stop following the bid up and closing it, and half of another position closed.
    for expected in [
        "order_placed account erin  ref dip  symbol BTC_USDC  side long  kind limit  "
        "price 59800.0  qty 0.01  trailing_stop 250.0",
        "  2 s  opened       account erin  ref dip  symbol BTC_USDC  side long  order limit  "
        "price 59700.1  qty 0.01",
        "the buy limit at 59800.0 filled at the ask 59700.1: the ask gapped from 59900.1 "
        "through it, and the fill is 99.9 better",
        "trailing level after each second: 2 s 59450.0, 3 s 59650.0, 4 s 59950.0, "
        "5 s 60150.0, 6 s 60150.0, 7 s 60250.0",  # it rises with the bid, never falls
        "  8 s  closed       account erin  ref dip  reason trailing_stop  price 60240.0  pnl 5.399",
        "dip closed at 60240.0 (the level was 60250.0), reason trailing_stop, pnl 5.399",
        "  5 s  reduced      account erin  ref core  reason manual  price 60400.0  qty 0.01  "
        "remaining_qty 0.01  pnl 3.999",
        "core reduced by 0.01 at 60400.0: pnl 3.999; it keeps 0.01 at 60000.1 with margin "
        "60.0001",  # half of the 120.0002 released
    ]:
        assert expected in text, expected


def check_strategy(text: str, real: bool) -> None:
    data_line(text, real)
    trades = re.search(r"^(\d+) trades: (\d+) take profits, (\d+) stop losses", text, re.M)
    assert trades and int(trades[1]) >= 1, text
    assert int(trades[2]) + int(trades[3]) <= int(trades[1])
    assert "breaking even needs a win rate of" in text


def check_paper_trade(text: str, real: bool) -> None:
    assert "feed SIMULATED" in text
    assert text.count("opened order ") == 2 and text.count("closed order ") == 2, text
    assert "{'type': 'closed'" in text  # our own event, streamed over the WebSocket
    assert "{'type': 'quote'" in text
    assert "server stopped with exit code 0" in text


def check_sweep(text: str, real: bool) -> None:
    data_line(text, real)
    rows = re.search(r"(\d+) grid points -> (\d+) rows", text)
    assert rows and rows[1] == rows[2] == "16", text


def check_live(text: str, real: bool) -> None:
    data_line(text, real)
    tested = re.search(r"^backtest: [\d,]+ quotes, (\d+) trades", text, re.M)
    live = re.search(r"^live: ([\d,]+) quotes, (\d+) trades", text, re.M)
    assert tested and live and int(tested[1]) >= 1 and int(live[2]) >= 1, text
    assert "history matches the live Result: True" in text
    assert re.search(r"^opened o1 ", text, re.M)  # the runner's log of its events
    assert "server stopped with exit code 0" in text


CHECKS: dict[str, tuple[Callable[[str, bool], None], int]] = {  # check, bokeh plots shown
    "01_record_and_explore.ipynb": (check_record, 1),
    "02_liquidation_rules.ipynb": (check_rules, 5),
    "03_strategy_on_real_captures.ipynb": (check_strategy, 1),
    "04_paper_trade_with_client.ipynb": (check_paper_trade, 0),
    "05_parameter_sweep.ipynb": (check_sweep, 1),
    "06_same_strategy_live.ipynb": (check_live, 1),
}
USE_CAPTURES = ["03_strategy_on_real_captures.ipynb", "05_parameter_sweep.ipynb",
                "06_same_strategy_live.ipynb"]  # fmt: skip


def test_the_notebooks_are_what_the_builder_writes_without_outputs() -> None:
    build = builder()
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(build.NOTEBOOKS)
    assert sorted(CHECKS) == sorted(build.NOTEBOOKS)
    for name in build.NOTEBOOKS:
        committed = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert committed == build.text(name), f"{name} is stale: run notebooks/build_notebooks.py"
        nb = nbformat.reads(committed, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code)
    rules = nbformat.reads(build.text("02_liquidation_rules.ipynb"), as_version=4)
    sections = [c.source.split("\n")[0] for c in rules.cells if c.source.startswith("## ")]
    assert [s[:5] for s in sections] == ["## 1.", "## 2.", "## 3.", "## 4.", "## 5."], sections
    assert sections[4] == "## 5. A buy limit, a trailing stop and a partial close"


@pytest.mark.parametrize("name", sorted(CHECKS), ids=lambda n: n[:2])
def test_notebook_runs_and_says_what_it_did(name: str) -> None:
    text, outputs = execute(name)
    check, plots = CHECKS[name]
    check(text, bool(shared_captures()))
    assert sum(BOKEH_PLOT in o.get("data", {}) for o in outputs) == plots


@pytest.mark.parametrize("name", USE_CAPTURES, ids=lambda n: n[:2])
def test_notebook_without_the_captures_says_simulated(name: str, tmp_path: Path) -> None:
    text, _ = execute(name, env={"WORKBENCH_SHARED_DATA": str(tmp_path)})  # an empty folder
    CHECKS[name][0](text, False)
    assert "REAL" not in text
