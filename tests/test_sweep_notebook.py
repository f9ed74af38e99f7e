"""A strategy defined where the workers cannot import it (a notebook cell, a script's
`__main__` without a guard) sweeps on the local process pool: it travels by value."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).parents[1]

SETUP = """
from workbench.backtest import Strategy, sweep
from workbench.feeds.synthetic import SyntheticFeed

ticks = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=3).generate(3_000).to_arrow()
"""
STRATEGY = """
LIMIT = 3  # a global of the cell, read by the strategy in the worker


class CellBracket(Strategy):  # defined here: workers cannot import it from a module
    def __init__(self, band="0.001"):
        self.band = band

    def on_start(self, ctx):
        self.enter(ctx)

    def on_event(self, ctx, ev):
        if ev["type"] == "closed" and len(ctx.state.setdefault("n", [])) < LIMIT:
            ctx.state["n"].append(ev["ref"])
            self.enter(ctx)

    def enter(self, ctx):
        if self.band == "boom":
            raise ValueError("band 'boom' is not a number")
        sym = ctx.symbols[0]
        ask = ctx.last_quote(sym)["ask"]
        tick = ctx.instrument(sym).tick_size
        from decimal import Decimal
        d = Decimal(self.band)
        ctx.open(sym, "long", "10", qty="0.01", take_profit=(ask * (1 + d)).quantize(tick),
                 stop_loss=(ask * (1 - d)).quantize(tick))
"""
SWEEP = """
table = sweep(CellBracket, {"band": ["0.0005", "0.001"]}, ticks, workers=2, mode="pool",
              progress=False)
print("plan:", table.plan.mode, table.plan.workers)
print("rows:", table.height, "symbols:", sorted(set(table["symbol"])))
print("trades:", table["trades"].to_list())
"""
FAILS = """
import traceback
try:
    sweep(CellBracket, {"band": ["0.001", "boom"]}, ticks, symbols=["SIM_BTC_USDC"],
          workers=2, mode="pool", progress=False)
except ValueError as e:
    print("caught:", type(e).__name__, e)
    print("".join(traceback.format_exception(e)))
"""


def test_a_class_of_a_notebook_cell_sweeps_on_the_pool(tmp_path: Path) -> None:
    cells = [new_code_cell(textwrap.dedent(c)) for c in (SETUP, STRATEGY, SWEEP, FAILS)]
    nb = new_notebook(cells=cells)
    client = NotebookClient(nb, timeout=240, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "plan: pool 2" in text, text
    assert "rows: 4 symbols: ['SIM_BTC_USDC', 'SIM_ETH_USDC']" in text, text
    trades = eval(text.split("trades: ")[1].splitlines()[0])  # a list of ints
    assert len(trades) == 4 and min(trades) >= 1
    # the worker's ValueError reaches the notebook as a ValueError, with its traceback
    assert "caught: ValueError band 'boom' is not a number" in text, text
    assert "raise ValueError(\"band 'boom' is not a number\")" in text
    assert "in enter" in text and "WorkerTraceback" in text
    assert "raised in sweep run 1 (band='boom'; SIM_BTC_USDC)" in text
    nbformat.validate(nb)


SCRIPT = """
from workbench.backtest import Strategy, sweep
from workbench.feeds.synthetic import SyntheticFeed


def entry(ctx):  # a function of __main__, used by the strategy below
    ctx.open(ctx.symbols[0], "long", "10", qty="0.01")


class Once(Strategy):
    def __init__(self, leverage="10"):
        self.leverage = leverage

    def on_start(self, ctx):
        entry(ctx)


ticks = SyntheticFeed(["BTC_USDC"], seed=2).generate(500).to_arrow()
# no `if __name__ == "__main__":` guard: workers that imported this script would sweep again
table = sweep(Once, {"leverage": ["5", "10", "20"]}, ticks, workers=2, mode="pool",
              progress=False)
print("runs", table.height, table.plan.mode, "opened", table["quotes"].min() > 0)
"""


def test_a_script_without_a_main_guard_sweeps_on_the_pool(tmp_path: Path) -> None:
    script = tmp_path / "sweep_script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "runs 3 pool opened True", out.stdout + out.stderr
    assert "bootstrapping phase" not in out.stderr and "BrokenProcessPool" not in out.stderr
