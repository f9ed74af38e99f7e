"""Backfill from Backpack's public REST API: klines and historical trades into the tick store.

`BackpackRest` is a small client that stays under a request rate (default 9/s), retries
429 and 5xx answers with backoff (honouring Retry-After), and raises `BackpackApiError`
for 4xx such as `400 {"code":"INVALID_CLIENT_REQUEST","message":"Invalid market symbol"}`.
`backfill_klines` and `backfill_trades` insert only rows not already stored. The DuckDB
file must not be open in another process (stop the recorder, or backfill another file).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import httpx

from workbench.feeds.backpack import DEFAULT_REST_URL, INTERVAL_SECONDS
from workbench.recorder.rows import PRICE_PRECISION, PRICE_SCALE, QTY_PRECISION, QTY_SCALE, fits
from workbench.store.reader import TimeLike, to_us

log = logging.getLogger(__name__)

SOURCE = "backfill"
PAGE_LIMIT = 1000


class BackpackApiError(RuntimeError):
    """An error answer from the REST API (after retries, for 429 and 5xx)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class RestTrade:
    """One trade from /api/v1/trades or /api/v1/trades/history."""

    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    timestamp_ms: int
    buyer_maker: bool


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline from /api/v1/klines; prices are None for an interval with no trades."""

    start_us: int
    end_us: int
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    volume: Decimal
    quote_volume: Decimal
    trades: int


def parse_kline_time(text: str) -> int:
    """`"2025-07-19 13:09:00"` (UTC, no zone) -> microseconds since the epoch."""
    dt = datetime.fromisoformat(text.replace(" ", "T"))
    us = to_us(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
    assert us is not None
    return us


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"expected a decimal string, got {value!r}")
    return Decimal(value)


def _trade(obj: dict[str, Any]) -> RestTrade:
    return RestTrade(
        int(obj["id"]),
        Decimal(obj["price"]),
        Decimal(obj["quantity"]),
        Decimal(obj["quoteQuantity"]),
        int(obj["timestamp"]),
        bool(obj["isBuyerMaker"]),
    )


def _kline(obj: dict[str, Any]) -> Kline:
    return Kline(
        parse_kline_time(obj["start"]),
        parse_kline_time(obj["end"]),
        _dec(obj.get("open")),
        _dec(obj.get("high")),
        _dec(obj.get("low")),
        _dec(obj.get("close")),
        Decimal(obj["volume"]),
        Decimal(obj.get("quoteVolume") or "0"),
        int(obj.get("trades") or 0),
    )


class BackpackRest:
    """Blocking client of the public REST endpoints used for backfill."""

    def __init__(
        self,
        base_url: str = DEFAULT_REST_URL,
        *,
        max_rate: float = 9.0,
        max_retries: int = 6,
        timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.min_interval = 1.0 / max_rate
        self.max_retries = max_retries
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"Accept": "application/json"}
        )
        self._next_ok = 0.0
        self.requests = 0

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> BackpackRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _throttle(self) -> None:
        now = time.monotonic()
        if self._next_ok > now:
            time.sleep(self._next_ok - now)
            now = time.monotonic()
        self._next_ok = now + self.min_interval

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` with query `params`; the decoded JSON body."""
        params = {k: v for k, v in params.items() if v is not None}
        for attempt in range(self.max_retries + 1):
            self._throttle()
            self.requests += 1
            try:
                resp = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise
                delay = self._delay(attempt, None)
                log.warning("GET %s failed (%s); retrying in %.2fs", path, exc, delay)
                time.sleep(delay)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt == self.max_retries:
                    break
                delay = self._delay(attempt, resp.headers.get("Retry-After"))
                log.warning("GET %s: HTTP %d; retrying in %.2fs", path, resp.status_code, delay)
                time.sleep(delay)
                continue
            if resp.status_code >= 400:
                raise _api_error(resp)
            return resp.json(parse_float=Decimal)
        raise _api_error(resp)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        try:
            if retry_after is not None:
                return max(0.0, float(retry_after))
        except ValueError:
            pass
        return min(self.backoff_max, self.backoff_initial * 2**attempt)

    def server_time_ms(self) -> int:
        """`GET /api/v1/time`: the server's clock in milliseconds."""
        return int(self.get("/api/v1/time"))

    def markets(self) -> list[dict[str, Any]]:
        """`GET /api/v1/markets`."""
        return list(self.get("/api/v1/markets"))

    def klines(
        self, symbol: str, interval: str, start_s: int, end_s: int | None = None
    ) -> list[Kline]:
        """`GET /api/v1/klines` for [start_s, end_s) (seconds)."""
        data = self.get(
            "/api/v1/klines", symbol=symbol, interval=interval, startTime=start_s, endTime=end_s
        )
        return [_kline(k) for k in data]

    def trades(self, symbol: str, limit: int = PAGE_LIMIT) -> list[RestTrade]:
        """`GET /api/v1/trades`: the most recent trades."""
        return [_trade(t) for t in self.get("/api/v1/trades", symbol=symbol, limit=limit)]

    def trades_history(
        self, symbol: str, limit: int = PAGE_LIMIT, offset: int = 0
    ) -> list[RestTrade]:
        """`GET /api/v1/trades/history`: `limit` trades, skipping the `offset` most recent."""
        data = self.get("/api/v1/trades/history", symbol=symbol, limit=limit, offset=offset)
        return [_trade(t) for t in data]


def _api_error(resp: httpx.Response) -> BackpackApiError:
    try:
        body = resp.json()
        return BackpackApiError(resp.status_code, str(body.get("code")), str(body.get("message")))
    except (ValueError, AttributeError):
        return BackpackApiError(resp.status_code, "HTTP", resp.text[:200])


def _price_ok(*values: Decimal | None) -> bool:
    return all(v is not None and fits(v, PRICE_PRECISION, PRICE_SCALE) for v in values)


def backfill_klines(
    con: duckdb.DuckDBPyConnection,
    rest: BackpackRest,
    symbol: str,
    interval: str,
    start: TimeLike,
    end: TimeLike = None,
) -> int:
    """Store the closed klines starting in [start, end) (end: now) that are not stored yet,
    with source 'backfill'; return how many rows were inserted."""
    step = INTERVAL_SECONDS[interval] * PAGE_LIMIT
    now = time.time_ns() // 1000
    start_us, end_us = to_us(start), to_us(end) or now
    if start_us is None:
        raise ValueError("backfill_klines needs a start time")
    inserted = 0
    cur = start_us // 1_000_000
    stop = -(-end_us // 1_000_000)
    while cur < stop:
        page = rest.klines(symbol, interval, cur, min(cur + step, stop))
        have = {
            r[0]
            for r in con.execute(
                "SELECT start_us FROM klines WHERE symbol = ? AND interval = ? "
                "AND start_us >= ? AND start_us < ?",
                [symbol, interval, cur * 1_000_000, (cur + step) * 1_000_000],
            ).fetchall()
        }
        rows = []
        for k in page:
            if k.start_us in have or not start_us <= k.start_us < end_us or k.end_us > now:
                continue
            if (
                k.open is None
                or not _price_ok(k.open, k.high, k.low, k.close)
                or not fits(k.volume, QTY_PRECISION, QTY_SCALE)
            ):
                log.info(
                    "%s %s kline at %d skipped (no trades or unfit values)",
                    symbol,
                    interval,
                    k.start_us,
                )
                continue
            have.add(k.start_us)
            rows.append(
                (
                    symbol,
                    interval,
                    k.start_us,
                    k.end_us,
                    k.open,
                    k.high,
                    k.low,
                    k.close,
                    k.volume,
                    k.trades,
                    SOURCE,
                )
            )
        _append(con, "klines", rows)
        inserted += len(rows)
        cur += step
    return inserted


def backfill_trades(
    con: duckdb.DuckDBPyConnection,
    rest: BackpackRest,
    symbol: str,
    *,
    since: TimeLike = None,
    until: TimeLike = None,
    max_trades: int = 100_000,
    page_size: int = PAGE_LIMIT,
) -> int:
    """Walk /api/v1/trades/history back from the newest trade until `since` (or
    `max_trades` fetched) and store trades in [since, until) whose ids are not stored yet,
    with source 'backfill'; return how many rows were inserted."""
    since_us, until_us = to_us(since), to_us(until)
    inserted = fetched = offset = 0
    limit = min(page_size, PAGE_LIMIT)
    while fetched < max_trades:
        page = rest.trades_history(symbol, limit=limit, offset=offset)
        if not page:
            break
        fetched += len(page)
        ids = [t.trade_id for t in page]
        have = {
            r[0]
            for r in con.execute(
                "SELECT trade_id FROM trades WHERE symbol = ? AND trade_id BETWEEN ? AND ?",
                [symbol, min(ids), max(ids)],
            ).fetchall()
        }
        recv = time.time_ns() // 1000
        rows = []
        for tr in sorted(page, key=lambda t: t.trade_id):
            t_us = tr.timestamp_ms * 1000
            if (
                tr.trade_id in have
                or (since_us is not None and t_us < since_us)
                or (until_us is not None and t_us >= until_us)
            ):
                continue
            if not _price_ok(tr.price) or not fits(tr.qty, QTY_PRECISION, QTY_SCALE):
                log.warning("%s trade %d skipped: values do not fit", symbol, tr.trade_id)
                continue
            have.add(tr.trade_id)
            rows.append(
                (symbol, tr.trade_id, t_us, None, recv, tr.price, tr.qty, tr.buyer_maker, SOURCE)
            )
        _append(con, "trades", rows)
        inserted += len(rows)
        oldest_us = min(t.timestamp_ms for t in page) * 1000
        if (since_us is not None and oldest_us < since_us) or len(page) < limit:
            break
        offset += len(page)
    return inserted


def _append(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[object, ...]]) -> None:
    if not rows:
        return
    appender = con.appender(table)
    appender.append_rows(rows)
    appender.flush()
