"""`workbench serve`: the paper-trading server (REST + WebSocket) on one engine."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from workbench.live.feed_spec import parse_feed_spec

from .config import ServerConfig

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="serve paper trading over REST and WebSocket (what `make run` starts)",
        description="One process, one engine: the REST API and WebSocket on a live Backpack "
        "feed (or a simulated or replayed one), journaled under --data-dir.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
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
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=serve)


def add_dashboard_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "dashboard",
        help="the dashboards alone, for one local user (no login) on a replay or simulation",
        description="The live and replay dashboards for one person on this machine: no "
        "accounts, no login (one local paper account), prices from a replay of the tick "
        "store, the simulation (default) or Backpack. Listens on 127.0.0.1 only.",
    )
    p.add_argument("--port", type=int, default=5006, help="port to listen on")
    p.add_argument("--data-dir", type=Path, default=Path("data/dashboard"),
                   help="journal and account of the local user")  # fmt: skip
    p.add_argument("--ticks", type=Path, default=Path("data/workbench.duckdb"),
                   help="the tick store to replay from")  # fmt: skip
    p.add_argument("--feed", default="synthetic",
                   help="synthetic (default), backpack, or replay:SYMBOLS@FROM..TO")  # fmt: skip
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (0: max)")
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
                          tick_store=args.ticks)  # fmt: skip
    return _run(config, access_log=False)


def serve(args: argparse.Namespace) -> int:
    try:
        spec = parse_feed_spec(args.feed)
    except ValueError as e:
        print(f"workbench serve: {e}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host, port=args.port, data_dir=args.data_dir, feed=str(spec),
        backpack_url=args.backpack_url, replay_speed=args.speed,
        fallback_after=args.fallback_after, replay_delay=args.replay_delay,
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
    return _run(config, access_log=args.access_log)


def _run(config: ServerConfig, *, access_log: bool) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the feed says on the console when Backpack is unreachable and when it returns; the
    # recorder's per-retry warnings would only repeat it
    logging.getLogger("workbench.recorder").setLevel(logging.ERROR)
    logging.getLogger("workbench.feeds").setLevel(logging.WARNING)
    logging.getLogger("workbench.live.feeds").setLevel(logging.WARNING)
    logging.getLogger("bokeh_fastapi").setLevel(logging.WARNING)  # its settings, said at start
    from .app import create_app

    app = create_app(config)
    uvicorn.run(
        app, host=config.host, port=config.port, log_level="warning",
        access_log=access_log, timeout_graceful_shutdown=5,
        proxy_headers=False,  # X-Forwarded-For only from a --trusted-proxy (server/peers.py)
    )  # fmt: skip
    print("workbench serve: stopped; everything acknowledged is journaled under "
          f"{config.data_dir}")  # fmt: skip
    return 0
