"""`workbench serve`: the paper-trading server (REST + WebSocket) on one engine."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import uvicorn

from workbench.live.datadir import make_private
from workbench.live.feed_spec import parse_feed_spec
from workbench.live.repair import RepairError, repair_journal

from .config import ServerConfig
from .startup import (
    StartupError,
    bind,
    claim_data_dir,
    exit_when_done,
    guard_lifespan,
    one_line,
    port_number,
    run_server,
)

log = logging.getLogger(__name__)
REPAIR_HELP = "set a damaged journal aside, say what is lost, and start from what is valid"


def worker_count(text: str) -> int:
    """--replay-workers: a whole number from 1 to 64."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"a number of workers from 1 to 64, not {text!r}")
    return n


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="serve paper trading over REST and WebSocket (what `make run` starts)",
        description="One process, one engine: the REST API and WebSocket on a live Backpack "
        "feed (or a simulated or replayed one), journaled under --data-dir.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=port_number, default=8000,
                   help="port to listen on (0: any free one)")  # fmt: skip
    p.add_argument("--data-dir", type=Path, default=Path("data"),
                   help="journal, snapshots, accounts and ticks (default: data)")  # fmt: skip
    p.add_argument("--feed", default="backpack",
                   help="backpack (live, falls back to simulated prices when unreachable), "
                        "synthetic, or replay:SYMBOLS@FROM..TO")  # fmt: skip
    p.add_argument("--speed", type=float, default=1.0,
                   help="replay speed: 1 is real time, 0 as fast as possible")  # fmt: skip
    p.add_argument("--replay-delay", type=float, default=0.0, metavar="SECONDS",
                   help="seconds before a replay starts (open dashboards first)")  # fmt: skip
    p.add_argument("--backpack-url", default=ServerConfig.backpack_url, help="Backpack WebSocket")
    p.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; none by default)",
    )
    p.add_argument("--trusted-proxy", action="append", default=None, metavar="ADDR",
                   help="a reverse proxy (address or network) whose X-Forwarded-For names "
                        "the client (repeatable; none by default)")  # fmt: skip
    p.add_argument("--fallback-after", type=float, default=5.0,
                   help="seconds without Backpack before serving SIMULATED prices")  # fmt: skip
    p.add_argument("--replay-workers", type=worker_count, default=2, metavar="N",
                   help="replay pages that play at once, each in its own process; more "
                        "wait in line (default 2)")  # fmt: skip
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--repair", action="store_true", help=REPAIR_HELP)
    p.set_defaults(func=serve)


def add_dashboard_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "dashboard",
        help="the dashboards alone, for one local user (no login) on a replay or simulation",
        description="The live and replay dashboards for one person on this machine: no "
        "accounts, no login (one local paper account), prices from a replay of the tick "
        "store, the simulation (default) or Backpack. Listens on 127.0.0.1 only.",
    )
    p.add_argument("--port", type=port_number, default=5006,
                   help="port to listen on (0: any free one)")  # fmt: skip
    p.add_argument("--data-dir", type=Path, default=Path("data/dashboard"),
                   help="journal and account of the local user")  # fmt: skip
    p.add_argument("--ticks", type=Path, default=Path("data/workbench.duckdb"),
                   help="the tick store to replay from")  # fmt: skip
    p.add_argument("--feed", default="synthetic",
                   help="synthetic (default), backpack, or replay:SYMBOLS@FROM..TO")  # fmt: skip
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (0: max)")
    p.add_argument("--replay-workers", type=worker_count, default=2, metavar="N",
                   help="replay pages that play at once (default 2)")  # fmt: skip
    p.add_argument("--repair", action="store_true", help=REPAIR_HELP)
    p.set_defaults(func=dashboard)


def dashboard(args: argparse.Namespace) -> int:
    """`workbench dashboard`: the same pages, one local user, no login."""
    try:
        spec = parse_feed_spec(args.feed)
    except ValueError as e:
        print(f"workbench dashboard: {e}", file=sys.stderr)
        return 2
    config = ServerConfig(host="127.0.0.1", port=args.port, data_dir=args.data_dir,
                          feed=str(spec), replay_speed=args.speed, local_account="local",
                          tick_store=args.ticks, replay_workers=args.replay_workers)  # fmt: skip
    return _run(config, access_log=False, prog="workbench dashboard", repair=args.repair)


def serve(args: argparse.Namespace) -> int:
    import faulthandler

    from workbench.recorder.cli import check_ws_url

    # `kill -USR1 <pid>` prints every thread's stack to stderr: for a server that hangs
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        spec = parse_feed_spec(args.feed)
        check_ws_url(args.backpack_url)
    except ValueError as e:
        print(f"workbench serve: {e}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host, port=args.port, data_dir=args.data_dir, feed=str(spec),
        backpack_url=args.backpack_url, replay_speed=args.speed,
        fallback_after=args.fallback_after, replay_delay=args.replay_delay,
        replay_workers=args.replay_workers,
    )  # fmt: skip
    if args.cors_origin:
        config.cors_origins = tuple(args.cors_origin)
    if args.trusted_proxy:
        config.trusted_proxies = tuple(args.trusted_proxy)
    if spec.kind == "replay":
        from workbench.live.replay_feed import ReplayFeed

        try:
            ReplayFeed(config.tick_db, spec, speed=args.speed)
        except ValueError as e:
            print(f"workbench serve: {e}", file=sys.stderr)
            return 2
    return _run(config, access_log=args.access_log, repair=args.repair)


def _run(
    config: ServerConfig, *, access_log: bool, prog: str = "workbench serve", repair: bool = False
) -> int:
    """Bind the socket, claim the data directory, then serve; a failure is one line on
    stderr and exit code 1, Ctrl-C before serving is exit code 130."""
    lock = -1
    socks: list[socket.socket] = []
    try:
        socks = bind(config.host, config.port)  # first: a refusal leaves no trace
        config.port = socks[0].getsockname()[1]  # the one bound (port 0: any free one)
        lock = claim_data_dir(config.data_dir)
        make_private(config.data_dir)  # umask 077; the directory and what is in it owner-only
        if repair:  # what it sets aside and what is lost, on stdout
            repair_journal(config.data_dir, say=lambda line: print(line, flush=True))
        return _serve(config, socks, access_log=access_log, prog=prog)
    except (StartupError, RepairError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted before serving", file=sys.stderr)
        return 130
    finally:
        for sock in socks:
            sock.close()
        if lock >= 0:
            os.close(lock)


def _serve(config: ServerConfig, socks: list[socket.socket], *, access_log: bool, prog: str) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the feed says on the console when Backpack is unreachable and when it returns; the
    # recorder's per-retry warnings would only repeat it
    logging.getLogger("workbench.recorder").setLevel(logging.ERROR)
    logging.getLogger("workbench.feeds").setLevel(logging.WARNING)
    logging.getLogger("workbench.live.feeds").setLevel(logging.WARNING)
    logging.getLogger("bokeh_fastapi").setLevel(logging.WARNING)  # its settings, said at start
    from .app import create_app
    from .ws_handshake import WebSocketProtocol

    try:
        app = create_app(config)
    except Exception as e:
        log.debug("create_app failed", exc_info=e)
        raise StartupError(f"cannot start: {one_line(e)}") from None
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, log_level="warning",
        access_log=access_log, timeout_graceful_shutdown=5,
        proxy_headers=False,  # X-Forwarded-For only from a --trusted-proxy (server/peers.py)
        ws=WebSocketProtocol,  # refuses an oversized upgrade at once, not hangs
    ))  # fmt: skip
    failures = guard_lifespan(app, server)
    run_server(server, socks)  # Ctrl-C while serving: a clean stop
    if failures:
        raise StartupError(f"cannot start: {one_line(failures[0])}")
    print(f"{prog}: stopped; everything acknowledged is journaled under {config.data_dir}")
    exit_when_done(0)
    return 0
