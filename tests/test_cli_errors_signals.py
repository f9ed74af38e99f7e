"""Ctrl-C (SIGINT) and SIGTERM end `workbench serve` at every stage of its start-up within
seconds and without a traceback: while importing, while binding and recovering, and while
the feed is still connecting to a Backpack that never answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import free_port

WORKBENCH = str(Path(sys.executable).with_name("workbench"))
EXIT_WITHIN = 10.0  # seconds


@pytest.fixture(scope="module")
def silent_backpack() -> Iterator[str]:
    """A ws:// URL whose server accepts TCP connections and never answers the handshake."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"ws://127.0.0.1:{s.getsockname()[1]}"


def start(data_dir: Path, backpack_url: str, log: Path) -> subprocess.Popen[bytes]:
    args = [WORKBENCH, "serve", "--port", str(free_port()), "--data-dir", str(data_dir),
            "--backpack-url", backpack_url]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip


def ends_cleanly(proc: subprocess.Popen[bytes], sig: int, log: Path) -> None:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"running {EXIT_WITHIN} s after {sig!r}:\n{log.read_text()}") from None
    out = log.read_text(errors="replace")
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    expected = {0, 130, -signal.SIGINT} if sig == signal.SIGINT else {0, -signal.SIGTERM}
    assert code in expected, (code, out)
    assert time.monotonic() - t0 < EXIT_WITHIN


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
# Not sooner: a signal in the interpreter's own start, before any of our code runs, gets
# Python's default (a KeyboardInterrupt traceback).
@pytest.mark.parametrize("after", [0.6, 1.2, 2.0, 3.0])
def test_a_signal_early_in_start_up(
    tmp_path: Path, silent_backpack: str, sig: int, after: float
) -> None:
    log = tmp_path / "out.txt"
    proc = start(tmp_path / "data", silent_backpack, log)
    time.sleep(after)
    ends_cleanly(proc, sig, log)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_feed_connects(tmp_path: Path, silent_backpack: str, sig: int) -> None:
    log = tmp_path / "out.txt"
    proc = start(tmp_path / "data", silent_backpack, log)
    deadline = time.monotonic() + 60
    while "Feed: connecting to Backpack" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    ends_cleanly(proc, sig, log)


def test_sigusr1_prints_every_threads_stack_and_the_server_goes_on(tmp_path: Path) -> None:
    from server_helpers import start_server

    srv = start_server(tmp_path / "data")
    try:
        srv.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while "in run_server" not in srv.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        out = srv.output()
        stacks = ("Thread 0x", "in _engine_loop", "in _commit_loop")
        assert all(s in out for s in stacks), out[-2000:]
        assert srv.client().get("/health").status_code == 200
    finally:
        assert srv.stop() == 0


def test_ctrl_c_that_an_import_turns_into_another_error_is_still_an_interruption(
    tmp_path: Path,
) -> None:
    """pydantic-core, building a schema while FastAPI is imported, catches a Ctrl-C and
    raises a SchemaError instead: the same as any library doing so here."""
    (tmp_path / "swallows.py").write_text(
        "import os, signal\n"
        "def add_parser(sub):\n"
        "    sub.add_parser('swallow').set_defaults(func=run)\n"
        "def run(args):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    except KeyboardInterrupt:\n"
        "        raise RuntimeError('schema build failed: KeyboardInterrupt:') from None\n"
    )
    code = ("import sys; from workbench import cli\n"
            "cli.COMMANDS['swallow'] = 'swallows'\n"
            "cli.main(['swallow'])\n")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 130, out
    assert out.stderr.strip() == "workbench: interrupted", out.stderr
    # Without a Ctrl-C, the same error is a real one, printed in full.
    (tmp_path / "swallows.py").write_text(
        "def add_parser(sub):\n"
        "    sub.add_parser('swallow').set_defaults(func=run)\n"
        "def run(args):\n"
        "    raise RuntimeError('a real failure')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "RuntimeError: a real failure" in out.stderr, out
