"""The FastAPI application: one engine, its feed, the REST routes and the WebSocket.

`create_app(config)` builds the app; its lifespan recovers the engine from the data
directory, starts the sequencer and the feed, and on shutdown stops the feed, applies
and journals what is queued, writes a last snapshot and closes the databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import duckdb
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.live.desk import Desk
from workbench.live.feeds import FeedSupervisor
from workbench.live.history import History
from workbench.live.host import LiveEngine
from workbench.store.schema import connect as connect_ticks

from . import errors
from .auth import LoginThrottle, RateLimiter, TokenService, load_secret
from .config import ServerConfig, register_limit_from_env
from .csrf import CrossSiteGuard, document
from .dashboard import attach, detach, mount
from .fastlane import FastLane
from .hub import Hub
from .looplag import LoopLag
from .peers import parse_proxies
from .routes import auth, balance, market, pending, trade, ws
from .security_headers import SecurityHeaders
from .state import ServerState
from .users import DuckRevocations, Users

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                await _too_large(send, self.limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:  # a chunked body, or one longer than it said
                    raise _BodyTooLarge(self.limit)
            return msg

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:  # raised where no route's error handler answers it
            await _too_large(send, self.limit)


class _BodyTooLarge(errors.ApiError):
    """An HTTP error, so a route reading the body answers 413 (not "error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes", "body_too_large")


async def _too_large(send: Send, limit: int) -> None:
    import json

    body = json.dumps(errors.body(f"request body over {limit} bytes", "body_too_large")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def create_app(config: ServerConfig, *, say: Callable[[str], object] = print) -> FastAPI:
    """The server app for `config`; the engine starts with the app's lifespan.

    Raises ValueError, saying which, for a trusted proxy or a rate limit that is not one.
    """
    try:
        parse_proxies(config.trusted_proxies)
    except ValueError as e:
        raise ValueError(f"--trusted-proxy / WORKBENCH_TRUSTED_PROXIES: {e}") from None
    if config.register_per_client is None:
        config.register_per_client = register_limit_from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await asyncio.to_thread(_open_state, config)
        state.hub.bind(asyncio.get_running_loop())
        app.state.server = state
        app.state.loop_lag = lag = LoopLag()  # /health: how late the event loop runs
        lag.start()
        await _reconcile_accounts(state, say)
        bids = await state.desk.read(
            lambda e: {s: e.books[i].bid for s, i in e.symbols.items() if e.books[i].t >= 0}
        )
        feed = FeedSupervisor(
            config.feed, state.live.sequencer,  # type: ignore[arg-type]
            db_path=config.tick_db, symbols=config.symbols, say=say, url=config.backpack_url,
            fallback_after=config.fallback_after, speed=config.replay_speed, start_bids=bids,
            replay_delay=config.replay_delay,
        )  # fmt: skip
        state.feed = feed
        task = asyncio.create_task(feed.run(), name="feed")
        if dash is not None:
            state.dashboards = dash
            dash.producer.start()
            state.live.add_publisher(dash.producer.collect)
            dash.attaching = asyncio.create_task(attach(app, dash), name="dashboards")
            # the charts' recent 1m klines, in a daemon thread that imports the REST
            # client (httpx) itself: the server answers without waiting for that import
            threading.Thread(target=_backfill, args=(state,), name="klines-backfill-start",
                             daemon=True).start()  # fmt: skip
        # What is alive now (the engine's positions, the imported modules) lives as long as
        # the process: keep it out of the collector (no full collection first: with 100k
        # positions that alone takes a second), and collect the young less often.
        gc.freeze()
        gc.set_threshold(50_000, 50, 1000)
        base = config.base_url
        rec = state.live.recovered
        if rec is not None and rec.index:
            say(
                f"recovered {rec.index:,} journal records in {rec.seconds:.2f} s "
                f"(snapshot {rec.snapshot_index or 'none'} + {rec.replayed:,} replayed)"
            )
        say(
            f"workbench is serving on {base}  (data in {config.data_dir}/)\n"
            + (
                f"  dashboard  {base}/dashboard   (replay: {base}/dashboard/replay)\n"
                if dash is not None
                else ""
            )
            + f"  API docs   {base}/docs\n  health     {base}/health\n"
            f"  WebSocket  {base.replace('http', 'ws', 1)}/ws\n  Ctrl-C stops it cleanly"
        )
        try:
            yield
        finally:
            if dash is not None:
                await detach(dash)
            await feed.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
            await asyncio.to_thread(_close_state, state)
            await lag.stop()
            gc.unfreeze()

    app = FastAPI(
        title="workbench paper-trading API",
        version="1.0",
        description="Paper-trade leveraged CFDs on live crypto prices, on the workbench's "
        "exact, deterministic engine. Money and prices are decimal strings.",
        lifespan=lifespan,
        # no OpenTelemetry here: else FastAPI asks its global providers on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    for module in (auth, trade, pending, balance, market, ws):
        app.include_router(module.router)
    from .compat import seed_001, seed_002, seed_003

    for module in (seed_001, seed_002, seed_003):
        app.include_router(module.router)
    document(app)
    # inside CORS: a preflight is answered first; the guard then sees the real request
    app.add_middleware(CrossSiteGuard, config=config)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )  # fmt: skip
    dash = None
    if config.dashboard:
        dash = mount(app, config, load_secret(config.data_dir))
    # the plain open and close calls answered without FastAPI's machinery (fastlane.py)
    app.add_middleware(FastLane, api=app)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: every response has them
    return app


def _open_state(config: ServerConfig) -> ServerState:
    data = config.data_dir
    data.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(data / "accounts.duckdb"))
    history = History(con)
    users = Users(con)
    tokens = TokenService(
        load_secret(data), ttl_s=config.token_ttl_s, revocations=DuckRevocations(con)
    )
    live = LiveEngine(
        data, history=history, snapshot_every=config.snapshot_every,
        snapshot_seconds=config.snapshot_seconds,
    )  # fmt: skip
    hub = Hub()
    live.add_publisher(hub.publish)
    state = ServerState(
        config=config, live=live, desk=None,  # type: ignore[arg-type]
        users=users, tokens=tokens, hub=hub, accounts_db=con,
        throttle=LoginThrottle(per_email=config.login_per_email,
                               per_client=config.login_per_client),
        registrations=RateLimiter(*(config.register_per_client or register_limit_from_env())),
    )  # fmt: skip
    live.clock = state.clock
    rec = live.start()
    assert live.sequencer is not None
    state.desk = Desk(live.sequencer, history)
    for w in rec.warnings:
        log.warning("recovery: %s", w)
    try:
        state.tick_db = connect_ticks(config.tick_db)
    except duckdb.Error as e:
        log.warning("the tick store %s cannot be opened (%s): /candles is empty", config.tick_db, e)
    return state


def _close_state(state: ServerState) -> None:
    state.live.stop()
    if state.tick_db is not None:
        state.tick_db.close()
    state.accounts_db.close()


async def _reconcile_accounts(state: ServerState, say: Callable[[str], object]) -> None:
    """Every user has its engine account (a crash between the two writes is mended here)."""
    ids = await asyncio.to_thread(state.users.ids)
    if state.config.local_account is not None:
        ids.append(state.config.local_account)
    have: Any = await state.desk.read(lambda e: set(e.by_name))
    missing = [u for u in ids if u not in have]
    for uid in missing:
        await state.desk.create_account(uid)
    if missing:
        say(f"created the missing paper accounts of {len(missing)} user(s)")


def _backfill(state: ServerState) -> None:
    from .dashboard.chart_backfill import start

    start(state)
