"""Backpack Exchange public WebSocket protocol: frame parsing and subscription messages.

Pure functions, no I/O. Frames are parsed into small typed records; prices and
quantities become exact Decimals (never floats) and times stay integer microseconds.
See shared/spec/backpack-feed.md for the protocol and verbatim frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_WS_URL = "wss://ws.backpack.exchange"
DEFAULT_REST_URL = "https://api.backpack.exchange"

#: Public stream types (from the spec): `<type>.<sym>`, `depth.<window>.<sym>`,
#: `kline.<interval>.<sym>`.
SIMPLE_STREAMS = frozenset({"bookTicker", "trade", "ticker", "depth"})
DEPTH_WINDOWS = frozenset({"200ms", "600ms", "1000ms"})
KLINE_INTERVALS = frozenset(
    {
        "1s",
        "1m",
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1month",
    }
)


class MalformedFrame(ValueError):
    """A frame that is not valid JSON or does not have the shape the protocol promises."""


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid and ask of one symbol (`bookTicker.<sym>`); `t` = engine time T, `e` = E."""

    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    update_id: int
    t: int
    e: int


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade (`trade.<sym>`); `buyer_maker` is the frame's `m`."""

    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool
    buyer_order_id: str
    seller_order_id: str
    t: int
    e: int


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error reply such as `{"id":null,"error":{"code":4006,"message":"Invalid stream"}}`."""

    code: int
    message: str
    id: Any = None


@dataclass(frozen=True, slots=True)
class OtherFrame:
    """A well-formed pushed frame of a stream this module does not type (ticker, depth, kline)."""

    stream: str
    data: dict[str, Any]


Frame = BookTicker | Trade | StreamError | OtherFrame


def stream_name(kind: str, symbol: str) -> str:
    """`bookTicker` + `SOL_USDC` -> `bookTicker.SOL_USDC`."""
    return f"{kind}.{symbol}"


def streams_for(symbols: Iterable[str], kinds: Iterable[str]) -> list[str]:
    """Every `kind.symbol` stream name, kinds in the given order within each symbol."""
    kinds = list(kinds)
    return [stream_name(k, s) for s in symbols for k in kinds]


def split_stream(name: str) -> tuple[str, str]:
    """Split a stream name into (type, symbol); raise ValueError for an unknown stream type.

    `depth.200ms.SOL_USDC` -> ("depth.200ms", "SOL_USDC"); `kline.1m.X` -> ("kline.1m", "X").
    """
    parts = name.split(".")
    if len(parts) == 2 and parts[0] in SIMPLE_STREAMS and parts[1]:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[2]:
        if parts[0] == "depth" and parts[1] in DEPTH_WINDOWS:
            return f"depth.{parts[1]}", parts[2]
        if parts[0] == "kline" and parts[1] in KLINE_INTERVALS:
            return f"kline.{parts[1]}", parts[2]
    raise ValueError(f"unknown stream {name!r}")


def _method_message(method: str, streams: Iterable[str], request_id: int | None) -> str:
    params = list(streams)
    if not params:
        raise ValueError(f"{method} needs at least one stream")
    for s in params:
        split_stream(s)
    msg: dict[str, Any] = {"method": method, "params": params}
    if request_id is not None:
        msg["id"] = request_id
    return json.dumps(msg, separators=(",", ":"))


def subscribe_message(streams: Iterable[str], request_id: int | None = None) -> str:
    """`{"method":"SUBSCRIBE","params":[...]}`; the server never replies to a valid one."""
    return _method_message("SUBSCRIBE", streams, request_id)


def unsubscribe_message(streams: Iterable[str], request_id: int | None = None) -> str:
    """`{"method":"UNSUBSCRIBE","params":[...]}`."""
    return _method_message("UNSUBSCRIBE", streams, request_id)


# -- parsing -------------------------------------------------------------------------------


def _int(data: dict[str, Any], key: str, *, digits_ok: bool = False) -> int:
    v = data.get(key)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if digits_ok and isinstance(v, str) and v.isascii() and v.isdigit():
        return int(v)
    raise MalformedFrame(f"field {key!r} must be an integer, got {v!r}")


def _str(data: dict[str, Any], key: str) -> str:
    v = data.get(key)
    if not isinstance(v, str):
        raise MalformedFrame(f"field {key!r} must be a string, got {v!r}")
    return v


def _dec(data: dict[str, Any], key: str) -> Decimal:
    v = data.get(key)
    if not isinstance(v, str):
        raise MalformedFrame(f"field {key!r} must be a decimal string, got {v!r}")
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise MalformedFrame(f"field {key!r} is not a decimal: {v!r}") from None
    if not d.is_finite() or d < 0:
        raise MalformedFrame(f"field {key!r} must be a finite non-negative decimal: {v!r}")
    return d


def _book_ticker(d: dict[str, Any]) -> BookTicker:
    return BookTicker(
        symbol=_str(d, "s"),
        bid=_dec(d, "b"),
        bid_qty=_dec(d, "B"),
        ask=_dec(d, "a"),
        ask_qty=_dec(d, "A"),
        update_id=_int(d, "u", digits_ok=True),
        t=_int(d, "T"),
        e=_int(d, "E"),
    )


def _trade(d: dict[str, Any]) -> Trade:
    m = d.get("m")
    if not isinstance(m, bool):
        raise MalformedFrame(f"field 'm' must be a boolean, got {m!r}")
    return Trade(
        symbol=_str(d, "s"),
        trade_id=_int(d, "t", digits_ok=True),
        price=_dec(d, "p"),
        qty=_dec(d, "q"),
        buyer_maker=m,
        buyer_order_id=_str(d, "b"),
        seller_order_id=_str(d, "a"),
        t=_int(d, "T"),
        e=_int(d, "E"),
    )


_TYPED = {"bookTicker": ("bookTicker", _book_ticker), "trade": ("trade", _trade)}


def parse_frame(text: str | bytes) -> Frame:
    """Parse one text frame from the feed; raise MalformedFrame for anything unexpected."""
    try:
        obj = json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedFrame("frame is not a JSON object")
    if "error" in obj:
        err = obj["error"]
        if not isinstance(err, dict):
            raise MalformedFrame("'error' is not an object")
        code = err.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            raise MalformedFrame(f"error code must be an integer, got {code!r}")
        message = err.get("message")
        return StreamError(code=code, message=str(message), id=obj.get("id"))
    stream, data = obj.get("stream"), obj.get("data")
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise MalformedFrame("frame has no {'data': {...}, 'stream': '...'} envelope")
    try:
        kind, symbol = split_stream(stream)
    except ValueError as exc:
        raise MalformedFrame(str(exc)) from None
    typed = _TYPED.get(kind)
    if typed is None:
        return OtherFrame(stream=stream, data=data)
    event_type, build = typed
    if data.get("e") != event_type:
        raise MalformedFrame(f"stream {stream!r} carries event type {data.get('e')!r}")
    record = build(data)
    if record.symbol != symbol:
        raise MalformedFrame(f"stream {stream!r} carries symbol {record.symbol!r}")
    return record


#: Kline intervals and their length in seconds ("1month" is paged as 31 days).
INTERVAL_SECONDS = {
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
    "1month": 2678400,
}
