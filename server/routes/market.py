"""Public market data and health: `/candles`, `/prices`, `/health`."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Query, Request

from workbench.candles import candles
from workbench.money import fmt_decimal

from ..errors import ApiError, errors
from ..orders import symbol_of
from ..schemas import CandlesOut, HealthOut, PricesOut
from ..state import State

router = APIRouter(tags=["market"])
Interval = Literal["1s", "1m", "5m", "15m", "30m", "1h", "4h", "1d"]
MAX_SECONDS = 10**11  # year 5138: any later time is a mistake
MAX_CANDLES = 5000


@router.get("/candles", response_model=CandlesOut, responses=errors(422))
async def get_candles(
    state: State,
    asset: str = Query(min_length=1, max_length=32, description='"BTC", "BTC_USDC", ...'),
    ts: Interval = Query("1m", description="candle interval"),
    startTime: int | None = Query(None, ge=0, le=MAX_SECONDS, description="seconds"),  # noqa: N803
    endTime: int | None = Query(None, ge=0, le=MAX_SECONDS, description="seconds"),  # noqa: N803
) -> dict:
    """OHLC candles (mid price) from the recorded ticks, oldest first (at most 5000)."""
    if startTime is not None and endTime is not None and endTime <= startTime:
        raise ApiError(422, "endTime must be after startTime", "invalid_request")
    known = await state.desk.symbols()
    symbol = symbol_of(asset, known) or asset.strip().upper()
    con = state.tick_db
    if con is None:
        return {"data": []}
    start = None if startTime is None else startTime * 1_000_000
    end = None if endTime is None else endTime * 1_000_000
    rows = await asyncio.to_thread(candles, con, symbol, ts, start=start, end=end)
    rows = rows[-MAX_CANDLES:]
    return {"data": [
        {"bucket": c.start // 1_000_000, "symbol": c.symbol, "open": fmt_decimal(c.open),
         "high": fmt_decimal(c.high), "low": fmt_decimal(c.low), "close": fmt_decimal(c.close),
         "volume": fmt_decimal(c.volume), "trades": c.trades, "quotes": c.quotes,
         "partial": bool(c.partial)}
        for c in rows
    ]}  # fmt: skip


@router.get("/prices", response_model=PricesOut)
async def prices(state: State) -> dict:
    """The latest bid/ask of every instrument and its age in seconds."""
    quotes = await state.desk.quotes()
    now = state.clock()
    out = []
    for q in quotes:
        t = q["t"]
        out.append({
            "symbol": q["symbol"],
            "bid": None if q["bid"] is None else fmt_decimal(q["bid"]),
            "ask": None if q["ask"] is None else fmt_decimal(q["ask"]),
            "t": t, "age_s": None if t is None else max(0, now - t) / 1e6,
        })  # fmt: skip
    return {"feed": state.feed_status().get("state", "STARTING"), "prices": out}


@router.get("/health", response_model=HealthOut)
async def health(state: State, request: Request) -> dict:
    """Feed state (LIVE, REPLAY or SIMULATED; last quote age), engine and database state,
    and how late the event loop ran over the last minute (`event_loop.lag_ms`)."""
    # measured before this request waits for the engine, as the request found the loop
    lag = getattr(request.app.state, "loop_lag", None)
    event_loop = {"lag_ms": lag.summary() if lag is not None else None}
    lane = getattr(request.app.state, "fast_lane", None)
    seq = state.live.sequencer
    assert seq is not None
    engine = await state.desk.read(lambda e: {
        "seq": e.seq, "time_us": e.now, "accounts": len(e.accounts),
        "open_positions": e.open_count, "quotes": e.quotes, "bad_quotes": e.bad_quotes,
    })  # fmt: skip
    st = seq.stats
    engine.update({
        "journal_index": seq.index, "durable_index": seq.durable_index,
        "commands": st.commands, "refused": st.refused, "syncs": st.syncs,
        "snapshots": st.snapshots, "last_snapshot_index": st.last_snapshot_index,
        "errors": st.errors, "backlog": seq.backlog(),
    })  # fmt: skip
    hist = state.live.history
    database = {"ok": True, "path": str(state.live.paths.accounts_db),
                "events": hist.max_seq, "inputs": hist.max_idx,
                "users": await asyncio.to_thread(state.users.count)}  # fmt: skip
    feed = state.feed_status()
    ok = st.errors == 0 and feed.get("state") not in ("STARTING", "STOPPED")
    dash = state.dashboards
    dashboard = None if dash is None else {
        "ready": dash.ready, "sessions": len(dash.producer.sessions),
        "pushes": dash.producer.pushes,
    }  # fmt: skip
    return {"status": "ok" if ok else "degraded", "feed": feed, "engine": engine,
            "database": database, "dashboard": dashboard, "event_loop": event_loop,
            "api": {"fast_lane": lane.taken if lane is not None else 0}}  # fmt: skip
