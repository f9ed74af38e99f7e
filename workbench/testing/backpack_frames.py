"""Backpack frames exactly as the real server writes them, and scripts of them for the fake.

Frames come out like the verbatim captures in shared/spec/backpack-feed.md: compact
JSON, keys in ASCII order, prices and quantities as strings, `E`/`T` in microseconds.
A script is a list of steps (`Frame`, `Raw`, `Drop`, `Close`, ...) that
`FakeBackpack.play` performs in order; `load_recording` turns a recorded file into one.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

Num = str | Decimal | int

#: Verbatim real frames from shared/spec/backpack-feed.md.
REAL_BOOK_TICKER = (
    '{"data":{"A":"19.60","B":"56.02","E":1736172777506225,"T":1736172777497712,"a":"218.61",'
    '"b":"218.58","e":"bookTicker","s":"SOL_USDC","u":1802083092},"stream":"bookTicker.SOL_USDC"}'
)
REAL_BOOK_TICKER_BTC = (
    '{"data":{"A":"0.06093","B":"0.02426","E":1771003771693848,"T":1771003771690207,'
    '"a":"68983.1","b":"68983.0","e":"bookTicker","s":"BTC_USDC","u":2442329321},'
    '"stream":"bookTicker.BTC_USDC"}'
)
REAL_TRADE = (
    '{"data":{"E":1736186248745457,"T":1736186248744398,"a":"113782701997686784",'
    '"b":"113782700596854784","e":"trade","m":true,"p":"218.50","q":"0.07","s":"SOL_USDC",'
    '"t":341399899},"stream":"trade.SOL_USDC"}'
)
REAL_DEPTH = (
    '{"data":{"E":1736172778162587,"T":1736172778151673,"U":1802083134,"a":[["219.00","2.98"]],'
    '"b":[["218.12","0.02"],["218.60","22.35"],["218.61","13.88"]],"e":"depth","s":"SOL_USDC",'
    '"u":1802083137},"stream":"depth.200ms.SOL_USDC"}'
)
REAL_TICKER = (
    '{"data":{"E":1790134358087727,"V":"154927125.41812","c":"86625","e":"ticker",'
    '"h":"86812.4","l":"85075.4","n":32259,"o":"85486.3","s":"BTC_USDC_PERP","v":"1801.83549"},'
    '"stream":"ticker.BTC_USDC_PERP"}'
)


def dumps(obj: Any) -> str:
    """Compact JSON with keys in ASCII order, as Backpack writes it."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _num(value: Num, what: str) -> str:
    if isinstance(value, float | bool):
        raise TypeError(f"{what} must be a decimal string or Decimal, not {value!r}")
    return str(value)


@dataclass(frozen=True, slots=True)
class Frame:
    """A pushed data frame: its stream name and the exact text sent on the socket."""

    stream: str
    text: str

    @property
    def data(self) -> dict[str, Any]:
        """The decoded `data` payload (numbers as Decimal, never float)."""
        return json.loads(self.text, parse_float=Decimal)["data"]


@dataclass(frozen=True, slots=True)
class Raw:
    """Arbitrary text sent as is (malformed frames); to subscribers of `stream`, or to all."""

    text: str
    stream: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """An error reply pushed to every connection: `{"error":{...},"id":null}`."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Abort every connection's TCP socket without a Close frame (clients see 1006)."""


@dataclass(frozen=True, slots=True)
class Close:
    """Server-initiated Close frame on every connection (maintenance/shutdown)."""

    code: int = 1001
    reason: str = "going away"


@dataclass(frozen=True, slots=True)
class Blackhole:
    """Stop reading and sending on every current connection: pings go unanswered."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds before the next step."""

    seconds: float


@dataclass(frozen=True, slots=True)
class WaitSubscribed:
    """Wait until connection number `connection` (1 = first ever) subscribes to `streams`."""

    streams: tuple[str, ...]
    connection: int = 1
    timeout: float = 10.0


Step = Frame | Raw | ErrorFrame | Drop | Close | Blackhole | Sleep | WaitSubscribed


def envelope(stream: str, data: dict[str, Any]) -> Frame:
    """Wrap `data` as `{"data":...,"stream":...}`."""
    return Frame(stream, dumps({"data": data, "stream": stream}))


def book_ticker_frame(
    symbol: str,
    *,
    bid: Num,
    ask: Num,
    bid_qty: Num,
    ask_qty: Num,
    update_id: int,
    t: int,
    e: int | None = None,
    update_id_as_string: bool = False,
) -> Frame:
    """A `bookTicker.<sym>` frame; `e` defaults to `t` + 8 µs, `u` optionally a string (docs)."""
    data = {
        "A": _num(ask_qty, "ask_qty"),
        "B": _num(bid_qty, "bid_qty"),
        "E": t + 8 if e is None else e,
        "T": t,
        "a": _num(ask, "ask"),
        "b": _num(bid, "bid"),
        "e": "bookTicker",
        "s": symbol,
        "u": str(update_id) if update_id_as_string else update_id,
    }
    return envelope(f"bookTicker.{symbol}", data)


def trade_frame(
    symbol: str,
    *,
    trade_id: int,
    price: Num,
    qty: Num,
    buyer_maker: bool,
    t: int,
    e: int | None = None,
    buyer_order_id: str | None = None,
    seller_order_id: str | None = None,
) -> Frame:
    """A `trade.<sym>` frame; order ids default to numbers derived from the trade id."""
    data = {
        "E": t + 1059 if e is None else e,
        "T": t,
        "a": seller_order_id or str(113782701997686784 + 2 * trade_id),
        "b": buyer_order_id or str(113782700596854784 + 2 * trade_id),
        "e": "trade",
        "m": buyer_maker,
        "p": _num(price, "price"),
        "q": _num(qty, "qty"),
        "s": symbol,
        "t": trade_id,
    }
    return envelope(f"trade.{symbol}", data)


def error_text(code: int, message: str) -> str:
    """`{"error":{"code":4006,"message":"Invalid stream"},"id":null}` (ASCII key order)."""
    return dumps({"error": {"code": code, "message": message}, "id": None})


def make_ticks(
    symbols: Iterable[str],
    count: int,
    *,
    start_t: int = 1_736_172_777_497_712,
    start_update_id: int = 1_802_083_092,
    start_trade_id: int = 341_399_899,
    trade_every: int = 3,
) -> list[Frame]:
    """A deterministic run of `count` frames per symbol: bookTickers, a trade every few.

    Update ids, trade ids and times increase per symbol; prices are padded decimals.
    """
    frames: list[Frame] = []
    for k, sym in enumerate(symbols):
        base = Decimal(218 + 1000 * k) + Decimal("0.58")
        for i in range(count):
            t = start_t + 1_000 * i + 17 * k
            bid = base + Decimal(i % 7) / 100
            if i % trade_every == trade_every - 1:
                frames.append(
                    trade_frame(
                        sym,
                        trade_id=start_trade_id + i,
                        price=f"{bid:.2f}",
                        qty=f"{Decimal(i % 5 + 1) / 100:.2f}",
                        buyer_maker=i % 2 == 0,
                        t=t,
                    )
                )
            else:
                frames.append(
                    book_ticker_frame(
                        sym,
                        bid=f"{bid:.2f}",
                        ask=f"{bid + Decimal('0.03'):.2f}",
                        bid_qty=f"{Decimal(56) + Decimal(i) / 100:.2f}",
                        ask_qty="19.60",
                        update_id=start_update_id + i,
                        t=t,
                        update_id_as_string=i % 4 == 1,
                    )
                )
    frames.sort(key=lambda f: (f.data["T"], f.stream))
    return frames


def _open_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        yield from fh


def load_recording(path: str | Path, *, speed: float | None = None) -> list[Step]:
    """Read a recorded file into a script: one frame a line, `<recv ns> <json>` or `<json>`.

    Lines with a `stream` become `Frame`s, others `Raw`. With `speed` (1.0 = real time,
    2.0 = twice as fast) `Sleep` steps reproduce the recorded spacing; gzip is read as is.
    """
    steps: list[Step] = []
    prev_ns: int | None = None
    for line in _open_text(Path(path)):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        recv_ns: int | None = None
        if head.isdigit() and rest:
            recv_ns, text = int(head), rest
        else:
            text = line
        if speed and recv_ns is not None and prev_ns is not None and recv_ns > prev_ns:
            steps.append(Sleep((recv_ns - prev_ns) / 1e9 / speed))
        if recv_ns is not None:
            prev_ns = recv_ns
        try:
            stream = json.loads(text).get("stream")
        except (ValueError, AttributeError):
            stream = None
        steps.append(Frame(stream, text) if isinstance(stream, str) else Raw(text))
    return steps


def write_recording(
    path: str | Path, frames: Iterable[Frame | Raw], *, start_ns: int = 0, step_ns: int = 1_000_000
) -> None:
    """Write frames as a recorded file (`<recv ns> <text>` per line) that `load_recording` reads."""
    with open(path, "w", encoding="utf-8") as fh:
        for i, f in enumerate(frames):
            fh.write(f"{start_ns + i * step_ns} {f.text}\n")
