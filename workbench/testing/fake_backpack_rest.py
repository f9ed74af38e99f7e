"""A real HTTP server on localhost serving Backpack's public REST endpoints used for backfill.

Serves /api/v1/time, /api/v1/markets, /api/v1/klines, /api/v1/trades and
/api/v1/trades/history with the real shapes (all decimals as strings, kline times as
"YYYY-MM-DD HH:MM:SS" UTC, trade timestamps in ms) and the real error
`400 {"code":"INVALID_CLIENT_REQUEST","message":"Invalid market symbol"}`. Every request is
logged with its arrival time; `fail_next` injects 429/5xx answers. Assumed where the
docs are silent: /trades/history's offset counts back from the newest trade and each page
is in ascending id order; a 429 body is plain text.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from workbench.feeds.backpack import INTERVAL_SECONDS
from workbench.testing.backpack_frames import dumps

KLINE_SECONDS = {k: v for k, v in INTERVAL_SECONDS.items() if k != "1month"}
MAX_LIMIT = 1000


def market(symbol: str, tick_size: str = "0.01", step_size: str = "0.01") -> dict[str, Any]:
    """A /api/v1/markets entry for a spot market."""
    base, _, quote = symbol.partition("_")
    return {
        "baseSymbol": base,
        "createdAt": "2024-01-24T03:50:17.384599",
        "marketType": "SPOT",
        "filters": {
            "price": {"maxPrice": None, "minPrice": tick_size, "tickSize": tick_size},
            "quantity": {"maxQuantity": None, "minQuantity": step_size, "stepSize": step_size},
        },
        "orderBookState": "Open",
        "quoteSymbol": quote,
        "symbol": symbol,
        "visible": True,
    }


def rest_trade(
    trade_id: int, price: str, qty: str, timestamp_ms: int, buyer_maker: bool
) -> dict[str, Any]:
    """A trade as /api/v1/trades returns it (quoteQuantity = price x quantity, exact)."""
    return {
        "id": trade_id,
        "isBuyerMaker": buyer_maker,
        "price": price,
        "quantity": qty,
        "quoteQuantity": str(Decimal(price) * Decimal(qty)),
        "timestamp": timestamp_ms,
    }


def kline_time(seconds: int) -> str:
    """`1752930540` -> `"2025-07-19 13:09:00"`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def rest_kline(
    start_s: int,
    interval: str,
    open_: str | None,
    high: str | None,
    low: str | None,
    close: str | None,
    volume: str,
    quote_volume: str = "0",
    trades: int = 0,
) -> dict[str, Any]:
    """A kline as /api/v1/klines returns it."""
    return {
        "close": close,
        "end": kline_time(start_s + KLINE_SECONDS[interval]),
        "high": high,
        "low": low,
        "open": open_,
        "quoteVolume": quote_volume,
        "start": kline_time(start_s),
        "trades": str(trades),
        "volume": volume,
    }


@dataclass(frozen=True)
class LoggedRequest:
    """A request as the fake saw it: monotonic arrival time, path, query, answer status."""

    at: float
    path: str
    params: dict[str, str]
    status: int


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _int_param(params: dict[str, str], name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None:
        if default is None:
            raise _BadRequest(f"Missing parameter {name}")
        return default
    try:
        return int(value)
    except ValueError:
        raise _BadRequest(f"Invalid parameter {name}") from None


class FakeBackpackRest:
    """The REST fake, served from a daemon thread: `with FakeBackpackRest() as rest: rest.url`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        symbols: Iterable[str] = ("SOL_USDC", "BTC_USDC", "ETH_USDC"),
    ) -> None:
        self.markets = {s: market(s) for s in symbols}
        self.trades: dict[str, list[dict[str, Any]]] = {}
        self.klines: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[LoggedRequest] = []
        self.now_ms: int | None = None
        self._failures: deque[tuple[int, float | None]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBackpackRest:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-backpack-rest"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeBackpackRest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_trades(self, symbol: str, trades: Iterable[dict[str, Any]]) -> None:
        """Add trades (as `rest_trade` makes them) to a symbol's history."""
        with self._lock:
            self.markets.setdefault(symbol, market(symbol))
            merged = {t["id"]: t for t in self.trades.get(symbol, [])}
            merged.update((t["id"], t) for t in trades)
            self.trades[symbol] = [merged[k] for k in sorted(merged)]

    def add_klines(self, symbol: str, interval: str, klines: Iterable[dict[str, Any]]) -> None:
        """Add klines (as `rest_kline` makes them)."""
        with self._lock:
            self.markets.setdefault(symbol, market(symbol))
            rows = self.klines.setdefault((symbol, interval), []) + list(klines)
            self.klines[(symbol, interval)] = sorted(rows, key=lambda k: k["start"])

    def fail_next(self, count: int, status: int = 429, retry_after: float | None = None) -> None:
        """Answer the next `count` requests with `status` (and a Retry-After header)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    # -- serving ------------------------------------------------------------------------------

    def _route(self, path: str, params: dict[str, str]) -> Any:
        if path == "/api/v1/time":
            return self.now_ms if self.now_ms is not None else time.time_ns() // 1_000_000
        if path == "/api/v1/markets":
            return list(self.markets.values())
        symbol = params.get("symbol")
        if symbol is None:
            raise _BadRequest("Missing parameter symbol")
        if symbol not in self.markets:
            raise _BadRequest("Invalid market symbol")
        if path == "/api/v1/klines":
            interval = params.get("interval")
            if interval not in KLINE_SECONDS:
                raise _BadRequest("Invalid interval")
            start = _int_param(params, "startTime")
            end = _int_param(params, "endTime", int(time.time()))
            rows = [
                k
                for k in self.klines.get((symbol, interval), [])
                if start <= _seconds(k["start"]) < end
            ]
            return rows[:MAX_LIMIT]
        if path in ("/api/v1/trades", "/api/v1/trades/history"):
            limit = _int_param(params, "limit", 100)
            offset = _int_param(params, "offset", 0) if path.endswith("history") else 0
            if not 0 < limit <= MAX_LIMIT or offset < 0:
                raise _BadRequest("Invalid limit or offset")
            rows = self.trades.get(symbol, [])
            hi = max(0, len(rows) - offset)
            return rows[max(0, hi - limit) : hi]
        raise LookupError(path)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(
                self,
                status: int,
                body: str,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json; charset=utf-8",
            ) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                at = time.monotonic()
                split = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(split.query).items()}
                with fake._lock:
                    failure = fake._failures.popleft() if fake._failures else None
                    if failure is None:
                        try:
                            status, body = 200, dumps(fake._route(split.path, params))
                        except _BadRequest as exc:
                            status, body = (
                                400,
                                dumps({"code": "INVALID_CLIENT_REQUEST", "message": exc.message}),
                            )
                        except LookupError:
                            status, body = 404, dumps({"code": "NOT_FOUND", "message": "Not found"})
                    fake.requests.append(
                        LoggedRequest(at, split.path, params, failure[0] if failure else status)
                    )
                if failure is not None:
                    status, retry_after = failure
                    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
                    self._answer(
                        status,
                        "Too Many Requests" if status == 429 else "Error",
                        headers,
                        "text/plain",
                    )
                    return
                self._answer(status, body)

        return Handler


def _seconds(kline_start: str) -> int:
    return int(
        datetime.fromisoformat(kline_start.replace(" ", "T")).replace(tzinfo=UTC).timestamp()
    )
