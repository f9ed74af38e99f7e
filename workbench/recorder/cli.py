"""`workbench record` (live Backpack ticks into DuckDB) and `workbench backfill-backpack`
(klines and trades from Backpack's REST API)."""

from __future__ import annotations

import argparse
import logging
import sys
from urllib.parse import urlsplit

import duckdb

from workbench.feeds.backpack import DEFAULT_REST_URL, DEFAULT_WS_URL
from workbench.store.live import DEFAULT_PARQUET_DIR
from workbench.store.schema import DEFAULT_DB


def _csv(text: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def check_ws_url(url: str) -> str:
    """`url` if it is a ws:// or wss:// URL with a host, else ValueError saying what is wrong
    (a malformed URL would never connect: better refused than retried forever)."""
    what = f"{url!r} is not a WebSocket URL"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"{what}: it must start with ws:// or wss://")
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"{what}: it needs a host name without spaces, e.g. wss://host")
    if port == 0:
        raise ValueError(f"{what}: port 0")
    return url


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `record` and `backfill-backpack`."""
    p = subparsers.add_parser(
        "record",
        help="record live Backpack bookTicker/trade streams into DuckDB",
        description="Record Backpack's public bookTicker and trade streams into the tick store "
        "(tables quotes, trades, gaps), reconnecting after drops. Committed rows are also "
        "mirrored as Parquet files that other processes can read while recording "
        "(workbench.store.live.read_quotes). SIGINT/SIGTERM commit everything, then exit.",
    )
    p.add_argument("--symbols", type=_csv, required=True, help="e.g. BTC_USDC,ETH_USDC,SOL_USDC")
    p.add_argument(
        "--streams",
        type=_csv,
        default=["bookTicker", "trade"],
        help="bookTicker and/or trade (default both)",
    )
    p.add_argument("--db", default=str(DEFAULT_DB), help="DuckDB file (default %(default)s)")
    p.add_argument("--url", default=DEFAULT_WS_URL, help="WebSocket URL (default %(default)s)")
    p.add_argument(
        "--parquet-dir",
        default=str(DEFAULT_PARQUET_DIR),
        help="root of the live Parquet mirror (default %(default)s); 'none' for none",
    )
    p.add_argument(
        "--parquet-every",
        type=float,
        default=15.0,
        help="seconds between Parquet files (default %(default)s)",
    )
    p.add_argument(
        "--flush-interval",
        type=float,
        default=0.5,
        help="max seconds between receipt and commit (default %(default)s)",
    )
    p.add_argument("--ping-interval", type=float, default=20.0, help="client ping period (s)")
    p.add_argument("--ping-timeout", type=float, default=20.0, help="client pong timeout (s)")
    p.add_argument("--backoff-initial", type=float, default=0.5, help="first reconnect delay (s)")
    p.add_argument("--backoff-max", type=float, default=30.0, help="max reconnect delay (s)")
    p.add_argument(
        "--status-every",
        type=float,
        default=None,
        help="seconds between status updates (default 1 on a terminal, else 10; 0 for none)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run_record)

    b = subparsers.add_parser(
        "backfill-backpack",
        help="backfill klines and trades from Backpack's REST API",
        description="Fetch klines (/api/v1/klines) and/or historical trades "
        "(/api/v1/trades/history, newest first, 1000 a page) into the tick store with "
        "source 'backfill', skipping rows already stored. Stays under --max-rate requests/s "
        "and backs off on HTTP 429. Klines cost one request per 1000 intervals of the range. "
        "The DuckDB file must not be open elsewhere (stop the recorder first). Times are UTC, "
        "e.g. '2025-07-19 13:00' or '2025-07-19T13:00:00'.",
    )
    b.add_argument("--symbols", type=_csv, required=True)
    b.add_argument(
        "--klines",
        type=_csv,
        default=[],
        metavar="INTERVALS",
        help="kline intervals to fetch, e.g. 1m,1h (needs --since)",
    )
    b.add_argument("--trades", action="store_true", help="fetch historical trades")
    b.add_argument("--since", help="oldest time wanted (UTC)")
    b.add_argument("--until", help="end of the range (UTC, exclusive; default now)")
    b.add_argument(
        "--max-trades",
        type=int,
        default=100_000,
        help="stop after fetching this many trades per symbol (default %(default)s)",
    )
    b.add_argument("--db", default=str(DEFAULT_DB), help="DuckDB file (default %(default)s)")
    b.add_argument("--api-url", default=DEFAULT_REST_URL, help="REST base URL")
    b.add_argument("--max-rate", type=float, default=9.0, help="requests per second")
    b.set_defaults(func=run_backfill)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_record(args: argparse.Namespace) -> int:
    """Run the recorder until SIGINT/SIGTERM."""
    from workbench.recorder.recorder import Recorder, RecorderConfig

    _setup_logging(args.verbose)
    status = args.status_every
    if status is None:
        status = 1.0 if sys.stdout.isatty() else 10.0
    try:
        check_ws_url(args.url)
        config = RecorderConfig(
            symbols=args.symbols,
            streams=args.streams,
            db_path=args.db,
            url=args.url,
            parquet_dir=None if args.parquet_dir.lower() == "none" else args.parquet_dir,
            parquet_every=args.parquet_every,
            flush_interval=args.flush_interval,
            ping_interval=args.ping_interval,
            ping_timeout=args.ping_timeout,
            backoff_initial=args.backoff_initial,
            backoff_max=args.backoff_max,
            status_every=status or None,
        )
    except ValueError as exc:
        print(f"workbench record: {exc}", file=sys.stderr)
        return 2
    try:
        Recorder(config).run()
    except duckdb.IOException as exc:
        print(f"workbench record: cannot open {args.db}: {exc}", file=sys.stderr)
        return 1
    return 0


def run_backfill(args: argparse.Namespace) -> int:
    """Backfill klines and/or trades for each symbol; print what was inserted."""
    from workbench.importers.backpack_rest import (
        INTERVAL_SECONDS,
        BackpackApiError,
        BackpackRest,
        backfill_klines,
        backfill_trades,
    )
    from workbench.store.reader import to_us
    from workbench.store.schema import connect

    _setup_logging(False)
    if not args.klines and not args.trades:
        print("workbench backfill-backpack: give --klines and/or --trades", file=sys.stderr)
        return 2
    if args.klines and not args.since:
        print("workbench backfill-backpack: --klines needs --since", file=sys.stderr)
        return 2
    unknown = [i for i in args.klines if i not in INTERVAL_SECONDS]
    if unknown:
        print(
            f"workbench backfill-backpack: unknown intervals {unknown}; use one of "
            f"{', '.join(INTERVAL_SECONDS)}",
            file=sys.stderr,
        )
        return 2
    try:
        for t in (args.since, args.until):
            to_us(t)
    except ValueError as exc:
        print(f"workbench backfill-backpack: bad time: {exc}", file=sys.stderr)
        return 2
    con = connect(args.db)
    try:
        with BackpackRest(args.api_url, max_rate=args.max_rate) as rest:
            for symbol in args.symbols:
                for interval in args.klines:
                    n = backfill_klines(con, rest, symbol, interval, args.since, args.until)
                    print(f"{symbol} klines {interval}: {n} inserted")
                if args.trades:
                    n = backfill_trades(
                        con,
                        rest,
                        symbol,
                        since=args.since,
                        until=args.until,
                        max_trades=args.max_trades,
                    )
                    print(f"{symbol} trades: {n} inserted")
    except BackpackApiError as exc:
        print(f"workbench backfill-backpack: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    return 0
