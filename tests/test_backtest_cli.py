"""`workbench backtest`, `workbench sweep` and `workbench paper`, run as a user runs them.

Each command is the installed `.venv/bin/workbench` in a subprocess, on the real captures
or on a small Parquet file of simulated quotes, and on a real server for `paper`. What
they print is checked against the same run done in Python.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from server_helpers import bearer, register, running_server

from workbench.backtest import Result, backtest
from workbench.backtest.examples import Bracket
from workbench.feeds.synthetic import SyntheticFeed

WORKBENCH = str(Path(sys.executable).parent / "workbench")
STRATEGY = '''
from decimal import Decimal
from workbench.backtest import Strategy


class Dip(Strategy):
    """A long with TP/SL `band` away, again after each close; `boom` raises on a close."""

    def __init__(self, band: str = "0.001", boom: bool = False, tries: int = 1) -> None:
        self.band, self.boom, self.tries = Decimal(band), boom, tries

    def on_start(self, ctx):
        self.enter(ctx)

    def on_event(self, ctx, ev):
        if ev["type"] == "closed":
            if self.boom:
                raise RuntimeError("boom on purpose")
            self.enter(ctx)

    def enter(self, ctx):
        sym = ctx.symbols[0]
        ask = ctx.last_quote(sym)["ask"]
        ctx.open(sym, "long", "10", qty="0.01",
                 take_profit=ctx.round_price(sym, ask * (1 + self.band), "up"),
                 stop_loss=ctx.round_price(sym, ask * (1 - self.band), "down"))
'''


def workbench(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run([WORKBENCH, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with strats.py and ticks.parquet (3,000 SIMULATED BTC_USDC quotes)."""
    root = tmp_path_factory.mktemp("cli")
    (root / "strats.py").write_text(STRATEGY)
    ticks = SyntheticFeed(["BTC_USDC"], seed=7).generate(3000).to_arrow()
    pq.write_table(ticks, root / "ticks.parquet")
    return root


def stat(out: str, name: str) -> str:
    """A stat's printed value."""
    for line in out.splitlines():
        if line.split()[:1] == [name]:
            return line.split(None, 1)[1].strip()
    raise AssertionError(f"no {name} in:\n{out}")


@pytest.mark.real_data
def test_backtest_on_the_captures_prints_the_stats_and_writes_report_and_result(
    work: Path,
) -> None:
    r = workbench("backtest", "workbench.backtest.examples:Bracket", "captures",
                  "--symbols", "BTCUSDT", "--param", "band=0.0005", "--param", "qty=0.01",
                  "--report", "bracket.html", "--save", "bracket", cwd=work)  # fmt: skip
    assert r.returncode == 0, r.stderr
    from workbench.demo import shared_captures

    same = backtest(Bracket(band="0.0005", qty="0.01"), shared_captures(), symbols=["BTCUSDT"])
    row = same.stats.row(0, named=True)
    assert int(stat(r.stdout, "trades")) == row["trades"] > 0
    assert stat(r.stdout, "pnl") == f"{row['pnl'].quantize(Decimal('0.01')):,}"
    assert f"{same.quotes:,} quotes" in r.stdout
    assert (work / "bracket.html").read_text()[:200].lower().count("<html") == 1
    assert Result.load(work / "bracket").closed.equals(same.closed)


def test_backtest_of_a_strategy_file_on_parquet(work: Path) -> None:
    r = workbench("backtest", "strats.py:Dip", "ticks.parquet", "--param", "band=0.0005",
                  "--from", "2024-01-01T00:01:00", "--to", "2024-01-01T00:04:00",
                  cwd=work)  # fmt: skip
    assert r.returncode == 0, r.stderr
    import importlib.util

    spec = importlib.util.spec_from_file_location("strats_here", work / "strats.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    same = backtest(mod.Dip(band="0.0005"), work / "ticks.parquet",
                    start="2024-01-01T00:01:00", end="2024-01-01T00:04:00")  # fmt: skip
    assert int(stat(r.stdout, "trades")) == same.stats["trades"][0] > 0
    assert f"{same.quotes:,} quotes" in r.stdout and same.quotes < 3000


def test_sweep_prints_one_line_per_run_and_writes_the_table(work: Path) -> None:
    r = workbench("sweep", "strats.py:Dip", "ticks.parquet", "--grid", "band=0.0005,0.002",
                  "--grid", "tries=1,2", "--workers", "2", "--out", "sweep.csv",
                  cwd=work)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = lines[0].split()
    assert head[:4] == ["run", "band", "tries", "symbol"] and "trades" in head
    rows = [line.split() for line in lines[1:5]]
    assert [(x[1], x[2]) for x in rows] == [("0.0005", "1"), ("0.0005", "2"), ("0.002", "1"),
                                            ("0.002", "2")]  # fmt: skip
    assert "4 run(s)" in r.stdout
    assert (work / "sweep.csv").read_text().count("\n") == 5  # the header and 4 runs


MISTAKES = [
    (["backtest", "nosuch_module:Dip", "ticks.parquet"], "no module named 'nosuch_module'"),
    (["backtest", "strats.py:Nope", "ticks.parquet"], "has no 'Nope' (it has: Dip)"),
    (["backtest", "missing.py:Dip", "ticks.parquet"], "no such file: missing.py"),
    (["backtest", "Dip", "ticks.parquet"], "module:Class or path/to/file.py:Class"),
    (["backtest", "strats.py:Dip", "ticks.parquet", "--param", "nope=1"],
     "Dip has no parameter 'nope' (its parameters: band, boom, tries)"),
    (["backtest", "strats.py:Dip", "ticks.parquet", "--param", "tries=two"],
     "tries=two: tries is a whole number"),
    (["backtest", "strats.py:Dip", "ticks.parquet", "--param", "band"], "name=value"),
    (["backtest", "strats.py:Dip", "nowhere.parquet"], "no such file or folder"),
    (["backtest", "strats.py:Dip", "ticks.parquet", "--symbols", "ETH_USDC"], "no quotes"),
    (["backtest", "strats.py:Dip", "ticks.parquet", "--from", "2031-01-01"], "no quotes"),
    (["sweep", "strats.py:Dip", "ticks.parquet"], "give at least one --grid"),
    (["sweep", "strats.py:Dip", "ticks.parquet", "--grid", "boom=maybe"], "true or false"),
    (["paper", "strats.py:Dip", "--server", "http://127.0.0.1:9"], "give --email"),
]  # fmt: skip


def test_mistakes_are_one_line_and_exit_code_2(work: Path) -> None:
    procs = [
        (args, says, subprocess.Popen([WORKBENCH, *args], cwd=work, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for args, says in MISTAKES
    ]  # fmt: skip
    for args, says, p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 2, (args, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], (args, err)
        assert lines[0].startswith(f"workbench {args[0]}: ")
        assert "Traceback" not in err and out == ""
    assert not (work / "nowhere.parquet").exists()


def test_a_strategy_that_raises_shows_its_traceback(work: Path) -> None:
    r = workbench("backtest", "strats.py:Dip", "ticks.parquet", "--param", "boom=true",
                  "--save", "not-written", cwd=work)  # fmt: skip
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "boom on purpose" in r.stderr
    assert "strats.py" in r.stderr and "the strategy raised RuntimeError" in r.stderr
    assert not (work / "not-written").exists()


def test_paper_trades_on_a_server_until_ctrl_c(work: Path, tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as srv:
        with srv.client() as c:
            token = register(c, "paper@example.com", "correct horse 1")
        r = workbench("paper", "strats.py:Dip", "--server", srv.url, "--email",
                      "paper@example.com", cwd=work,
                      env={"WORKBENCH_PASSWORD": "wrong one 1"})  # fmt: skip
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
        assert "the server refused" in r.stderr
        p = subprocess.Popen(
            [WORKBENCH, "paper", "strats.py:Dip", "--server", srv.url, "--email",
             "paper@example.com", "--symbols", "BTC_USDC", "--param", "band=0.0001"],
            cwd=work, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "WORKBENCH_PASSWORD": "correct horse 1"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            orders: list = []
            while not orders and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.2)
                with srv.client() as c:
                    orders = c.get("/trade/orders", headers=bearer(token)).json()["orders"]
            assert orders, "no order placed"
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        with srv.client() as c:
            orders = c.get("/trade/orders", headers=bearer(token)).json()["orders"]
    assert p.returncode == 0, err
    assert "opened o1" in err and "Traceback" not in err
    closed = sum(o["status"] == "closed" for o in orders)
    # its open position may close on the server after the run stopped, before this read
    assert closed - 1 <= int(stat(out, "trades")) <= closed
    assert sum(o["status"] == "open" for o in orders) <= 1  # one at a time, as the rule says
