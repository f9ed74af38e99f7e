"""Start-up checks of `workbench serve` and `workbench dashboard`, each failure one line.

Before anything is recovered or printed: the data directory must be a writable directory
that no other server holds (`claim_data_dir` keeps an exclusive lock on it for the life of
the process), and the address must be bound (`bind`), so the URLs are printed only once the
socket is ours. `guard_lifespan` turns a failure while the app starts (recovery, databases)
into a `StartupError` instead of uvicorn's traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Why the server cannot start, in one line for the console."""


def port_number(text: str) -> int:
    """argparse type of --port: 1..65535, or 0 for any free port (the URLs show which)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{n} is not a port: use 1 to 65535 (0: any free port)")
    return n


def one_line(exc: BaseException) -> str:
    """An exception as one line: the OS's words and the path, or the first line of the text."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def claim_data_dir(path: Path) -> int:
    """Create `path` if needed, check it is a writable directory and lock it; returns the
    descriptor holding the lock (held until closed or the process ends)."""
    if path.exists() and not path.is_dir():
        raise StartupError(f"the data directory {path} is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise StartupError(f"cannot create the data directory {path}: {e.strerror}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise StartupError(f"cannot write in the data directory {path}: {e.strerror}") from None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StartupError(
                f"the data directory {path} is in use by another workbench server"
            ) from None
        raise StartupError(f"cannot lock the data directory {path}: {e.strerror}") from None
    return fd


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address `host` names (port 0: one free port for all)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as e:
        reason = e.strerror if isinstance(e, socket.gaierror) else str(e)
        raise StartupError(f"cannot listen on {where}: {reason}") from None
    socks: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(socks) > 1:
                addr = (addr[0], socks[0].getsockname()[1], *addr[2:])
            sock.bind(addr)
            sock.listen(2048)
    except OSError as e:
        for s in socks:
            s.close()
        raise StartupError(f"cannot listen on {where}: {e.strerror or e}") from None
    return socks


def guard_lifespan(app: FastAPI, server: uvicorn.Server) -> list[BaseException]:
    """Make a failure of the app's start-up stop `server` quietly; returns the list where
    that failure is put (the caller says it in one line)."""
    failures: list[BaseException] = []
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def guarded(a: Any) -> AsyncIterator[Any]:
        stack = contextlib.AsyncExitStack()
        try:
            value = await stack.enter_async_context(inner(a))
        except Exception as exc:
            log.debug("start-up failed", exc_info=exc)
            failures.append(exc)
            server.should_exit = True
            yield None
            return
        async with stack:
            yield value

    app.router.lifespan_context = guarded
    return failures


def run_server(server: uvicorn.Server, socks: list[socket.socket]) -> None:
    """`server.run` on `socks`, Ctrl-C being a clean stop, but without waiting for the
    loop's worker threads once the app has shut down (asyncio.run would: a signal during
    start-up then waited for the dashboards' import to finish); see `exit_when_done`."""
    factory = server.config.get_loop_factory()
    loop = factory() if factory is not None else asyncio.new_event_loop()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            loop.run_until_complete(server.serve(sockets=socks))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def exit_when_done(code: int) -> None:
    """Exit with `code` now if threads other than ours linger (a module import in a worker,
    say): the app has shut down, journaled and closed everything, nothing is left to wait
    for. Returns when there are none."""
    lingering = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if not lingering:
        return
    log.debug("not waiting for %s", ", ".join(t.name for t in lingering))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
