"""`workbench demo`: imports, replays, reports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.real_data
def test_run_imports_the_real_captures_and_replays_them(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    cmd = [sys.executable, "-m", "workbench.cli", "demo", "--db", str(db), "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "imported 4 real Binance captures" in res.stdout
    replayed = re.search(r"replayed ([\d,]+) quotes", res.stdout)
    assert replayed and int(replayed.group(1).replace(",", "")) > 130_000
    assert re.search(r"isolated-50x .*closes: \{'", res.stdout)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "(0 new quotes, 0 new trades)" in again.stdout
    assert db.exists()
