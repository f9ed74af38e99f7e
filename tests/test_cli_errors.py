"""`workbench serve`, `dashboard` and `record` refuse what cannot work in one clear line on
stderr and a non-zero exit, quickly and without a traceback (the real command, in a
subprocess): a bad host or port, a port in use, a data directory that is a file, read-only
or in use, a malformed feed URL. The URLs are printed only once the socket is bound."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import Server, free_port, start_server

from server.startup import port_number
from workbench.recorder.cli import check_ws_url

WORKBENCH = str(Path(sys.executable).with_name("workbench"))


def run(args: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `workbench ARGS`; a command still running after `timeout` fails the test."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        return subprocess.run(
            [WORKBENCH, *args], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"workbench {' '.join(args)} still running after {timeout} s") from e


def refused(p: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    """Exit `code`, stderr exactly one line matching `line` (a regex), nothing served."""
    err = p.stderr.strip().splitlines()
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert len(err) == 1 and re.fullmatch(line, err[0]), p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert "serving on" not in p.stdout


def serve(data_dir: Path, *extra: str) -> list[str]:
    return ["serve", "--feed", "synthetic", "--data-dir", str(data_dir), *extra]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("running") / "data")
    try:
        yield srv
    finally:
        srv.stop()


# ------------------------------------------------------------------ host and port
def test_an_unknown_host_is_one_line_and_a_quick_exit(tmp_path: Path) -> None:
    port = free_port()
    t0 = time.monotonic()
    p = run(serve(tmp_path / "data", "--host", "999.1.1.1", "--port", str(port)))
    refused(p, 1, rf"workbench serve: cannot listen on 999\.1\.1\.1:{port}: .+")
    assert time.monotonic() - t0 < 15
    assert not (tmp_path / "data").exists()  # refused before anything was written


@pytest.mark.parametrize("text", ["99999", "65536", "-1", "eighty", "8000.5", ""])
def test_port_numbers_outside_0_to_65535_are_not_ports(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="port"):
        port_number(text)
    assert [port_number(t) for t in ("0", "1", "8000", "65535")] == [0, 1, 8000, 65535]


@pytest.mark.parametrize(("command", "port"), [("serve", "99999"), ("dashboard", "-1")])
def test_serve_and_dashboard_refuse_a_port_outside_the_range(
    tmp_path: Path, command: str, port: str
) -> None:
    p = run([command, "--feed", "synthetic", "--data-dir", str(tmp_path / "d"), "--port", port])
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"workbench {command}: error: argument --port: {port} is not a port" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "d").exists()


def test_port_0_serves_on_a_free_port_and_prints_that_port(tmp_path: Path) -> None:
    log = tmp_path / "out.txt"
    with open(log, "wb") as out:
        proc = subprocess.Popen([WORKBENCH, *serve(tmp_path / "d", "--port", "0")],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (m := re.search(r"serving on http://127\.0\.0\.1:(\d+)", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        port = int(m.group(1))
        assert port != 0
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_a_port_in_use_is_one_line_and_nothing_is_printed_as_served(
    tmp_path: Path, running: Server
) -> None:
    port = running.url.rsplit(":", 1)[1]
    p = run(serve(tmp_path / "other", "--port", port))
    refused(p, 1, rf"workbench serve: cannot listen on 127\.0\.0\.1:{port}: Address already in use")
    assert not (tmp_path / "other").exists()
    assert httpx.get(running.url + "/health", timeout=10).status_code == 200  # untouched


# ------------------------------------------------------------------ the data directory
def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "passwd"
    f.write_text("root:x:0:0\n")
    p = run(serve(f, "--port", str(free_port())))
    refused(p, 1, rf"workbench serve: the data directory {re.escape(str(f))} is not a directory")
    assert f.read_text() == "root:x:0:0\n"
    p = run(serve(f / "sub", "--port", str(free_port())))
    refused(p, 1, r"workbench serve: cannot create the data directory .*/sub: Not a directory")


def test_a_read_only_data_dir_is_refused() -> None:
    wrap: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: run as nobody
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop privileges")
        wrap = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    top = Path(tempfile.mkdtemp(prefix="wb-ro-"))  # not under tmp_path: nobody must reach it
    try:
        top.chmod(0o755)
        ro = top / "data"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)
        port = str(free_port())
        cmd = [*wrap, WORKBENCH, *serve(ro, "--port", port)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=top)
        refused(p, 1, rf"workbench serve: cannot write in the data directory {ro}: "
                      r"Permission denied")  # fmt: skip
        p = subprocess.run([*wrap, WORKBENCH, *serve(ro / "sub", "--port", port)],
                           capture_output=True, text=True, timeout=30, cwd=top)  # fmt: skip
        refused(p, 1, r"workbench serve: cannot create the data directory .*: Permission denied")
        assert list(ro.iterdir()) == []
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_second_server_on_the_same_data_dir_is_refused(running: Server) -> None:
    before = sorted(p.name for p in running.data_dir.iterdir())
    p = run(["serve", "--feed", "synthetic", "--data-dir", str(running.data_dir),
             "--port", str(free_port())])  # fmt: skip
    refused(p, 1, r"workbench serve: the data directory .* is in use by another workbench server")
    assert sorted(p.name for p in running.data_dir.iterdir()) == before
    assert httpx.get(running.url + "/health", timeout=10).json()["status"] == "ok"


# ------------------------------------------------------------------ feed URLs
@pytest.mark.parametrize(
    "url", ["not-a-url", "http://example.com", "ws://", "ws://:80", "ws://a b", "ws://h:99999"]
)
def test_malformed_websocket_urls_are_refused_saying_why(url: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(repr(url))} is not a WebSocket URL: "):
        check_ws_url(url)
    for good in ("wss://ws.backpack.exchange", "ws://127.0.0.1:9", "ws://[::1]:80/x"):
        assert check_ws_url(good) == good


def test_record_refuses_a_malformed_url_at_once(tmp_path: Path) -> None:
    db = tmp_path / "ticks.duckdb"
    p = run(["record", "--symbols", "BTC_USDC", "--db", str(db), "--parquet-dir", "none",
             "--url", "not-a-url"], timeout=20)  # fmt: skip
    refused(p, 2, r"workbench record: 'not-a-url' is not a WebSocket URL: "
                  r"it must start with ws:// or wss://")  # fmt: skip
    assert not db.exists()


def test_record_keeps_retrying_a_well_formed_unreachable_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{s.getsockname()[1]}"
    proc = subprocess.Popen([WORKBENCH, "record", "--symbols", "BTC_USDC", "--db",
                             str(tmp_path / "t.duckdb"), "--parquet-dir", "none", "--url", url,
                             "--backoff-initial", "0.1", "--backoff-max", "0.2"],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        retries = 0
        assert proc.stderr is not None
        while retries < 3:
            line = proc.stderr.readline()
            assert line and time.monotonic() < deadline, "the recorder stopped retrying"
            retries += "retrying in" in line
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0


def test_serve_refuses_a_malformed_backpack_url(tmp_path: Path) -> None:
    p = run(["serve", "--data-dir", str(tmp_path / "d"), "--port", str(free_port()),
             "--backpack-url", "wss//ws.backpack.exchange"])  # fmt: skip
    refused(p, 2, r"workbench serve: 'wss//ws.backpack.exchange' is not a WebSocket URL: .+")
    assert not (tmp_path / "d").exists()
