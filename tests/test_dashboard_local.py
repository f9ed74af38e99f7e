"""`workbench dashboard`: the same pages for one local user, no login, simulated prices."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx
from browser_helpers import chromium, figure, rows, shot, wait_for
from server_helpers import free_port


def test_workbench_dashboard_serves_one_local_user(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dashboard.log"
    cmd = [sys.executable, "-m", "workbench.cli", "dashboard", "--port", str(port),
           "--data-dir", str(tmp_path / "data"),
           "--ticks", str(tmp_path / "ticks.duckdb")]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(url + "/health", timeout=2)
                if r.status_code == 200 and r.json()["dashboard"]["ready"]:
                    break
            time.sleep(0.2)
        health = httpx.get(url + "/health").json()
        assert health["feed"]["state"] == "SIMULATED" and health["engine"]["accounts"] == 1
        assert f"dashboard  {url}/dashboard" in log.read_text()
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url + "/dashboard")
            # no login form: the local account trades at once
            page.get_by_role("button", name="Open long").wait_for(timeout=20_000)
            assert page.get_by_placeholder("you@example.com").count() == 0
            wait_for(lambda: figure(page, "balance") == "5,000.00", "the local balance")
            page.get_by_role("button", name="Open long").click()
            wait_for(lambda: len(rows(page, ".positions-table")) == 1, "the local position")
            shot(page, "dashboard-local")
        assert httpx.get(url + "/health").json()["engine"]["open_positions"] == 1
    finally:
        proc.send_signal(2)
        proc.wait(30)
    assert proc.returncode == 0, log.read_text()
