"""Reading gzipped Binance combined-stream captures: `<receive ns> <JSON>` per line.

Only `@bookTicker` quotes and `@trade` trades are read; depth updates and REST depth
snapshots (lines without a `stream` key) are skipped. A bookTicker has no exchange time,
so a quote's `t` is its receive time; a trade's `t` is its trade time `T` and `e` its
event time `E` (both ms in the frame, µs here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from isal import isal_zlib  # zlib-compatible, 2.5x faster to decompress

from ..domain import Instrument
from ..engine import Engine
from ..money import BadNumber, price_units
from ..ticks import Quote, Trade

CHUNK = 1 << 20  # compressed bytes read at a time
_QUOTE_TAG = b'@bookTicker"'
_TRADE_TAG = b'@trade"'


class BadFrame(ValueError):
    """A bookTicker or trade frame that cannot be read exactly."""


def gunzip_line_chunks(path: str | Path, chunk: int = CHUNK) -> Iterator[tuple[bytes, int]]:
    """Decompressed data of a gzipped file (multi-member too), each piece ending at a line
    end, with the compressed bytes it took."""
    dec = isal_zlib.decompressobj(wbits=31)
    rest = b""
    with open(path, "rb") as fh:
        while raw := fh.read(chunk):
            out = dec.decompress(raw)
            while dec.eof and dec.unused_data:  # a multi-member gzip file
                tail = dec.unused_data
                dec = isal_zlib.decompressobj(wbits=31)
                out += dec.decompress(tail)
            data = rest + out
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut], len(raw)
    if not dec.eof:
        raise BadFrame(f"{path}: the gzip stream is truncated")
    if rest:
        yield rest + b"\n", 0


def iter_line_batches(path: str | Path, chunk: int = CHUNK) -> Iterator[tuple[list[bytes], int]]:
    """Complete lines of a gzipped file, a batch per chunk, with the compressed bytes it took."""
    for data, nbytes in gunzip_line_chunks(path, chunk):
        yield data[:-1].split(b"\n"), nbytes


def split_streams(lines: Iterable[bytes]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Sort lines into (bookTicker lines, trade lines, lines to read the slow way).

    The fast test looks for the `@` of the stream name near the start of the line; a
    line without it that still names a stream (keys in another order) goes to the slow list.
    """
    quotes: list[bytes] = []
    trades: list[bytes] = []
    other: list[bytes] = []
    for line in lines:
        k = line.find(b"@", 20, 120)
        if k >= 0:
            if line.startswith(_QUOTE_TAG, k):
                quotes.append(line)
            elif line.startswith(_TRADE_TAG, k):
                trades.append(line)
        elif b'"stream"' in line and (_QUOTE_TAG in line or _TRADE_TAG in line):
            other.append(line)
    return quotes, trades, other


def parse_frame(line: bytes) -> Quote | Trade | None:
    """The Quote or Trade of one capture line (None for other streams and snapshots)."""
    head, _, body = line.partition(b" ")
    try:
        recv = int(head) // 1000
        msg = json.loads(body, parse_float=Decimal)
    except ValueError as e:
        raise BadFrame(f"unreadable capture line {line[:120]!r}: {e}") from None
    stream = msg.get("stream") if isinstance(msg, dict) else None
    data = msg.get("data") if isinstance(msg, dict) else None
    if not isinstance(stream, str) or not isinstance(data, dict):
        return None
    try:
        if stream.endswith("@bookTicker"):
            return Quote(
                symbol=str(data["s"]), t=recv, recv=recv,
                bid=_dec(data["b"]), ask=_dec(data["a"]),
                bid_qty=_dec(data["B"]), ask_qty=_dec(data["A"]), update_id=int(data["u"]),
            )  # fmt: skip
        if stream.endswith("@trade"):
            return Trade(
                symbol=str(data["s"]), trade_id=int(data["t"]),
                t=int(data["T"]) * 1000, e=int(data["E"]) * 1000, recv=recv,
                price=_dec(data["p"]), qty=_dec(data["q"]), buyer_maker=bool(data["m"]),
            )  # fmt: skip
    except (KeyError, TypeError, ValueError, ArithmeticError) as e:
        raise BadFrame(f"bad {stream} frame {line[:160]!r}: {e!r}") from None
    return None


def read_capture(path: str | Path) -> Iterator[Quote | Trade]:
    """Stream the quotes and trades of one capture file, in file order."""
    for lines, _ in iter_line_batches(path):
        for line in lines:
            k = line.find(b"@", 20, 120)
            if k >= 0 and not (line.startswith(_QUOTE_TAG, k) or line.startswith(_TRADE_TAG, k)):
                continue  # depth and other streams: skip without parsing
            rec = parse_frame(line)
            if rec is not None:
                yield rec


def quote_units(lines: Sequence[bytes]) -> tuple[list[str], list[int], list[int], list[int]]:
    """(symbols, t µs, bid units, ask units) of bookTicker lines, parsed with a split fast path."""
    syms: list[str] = []
    ts: list[int] = []
    bids: list[int] = []
    asks: list[int] = []
    for line in lines:
        p = line.split(b'"')
        if len(p) == 29 and p[7] == b"u" and p[13] == b"b" and p[21] == b"a" and p[9] == b"s":
            syms.append(p[11].decode())
            ts.append(int(p[0][: p[0].index(b" ")]) // 1000)
            bids.append(_units(p[15]))
            asks.append(_units(p[23]))
            continue
        rec = parse_frame(line)
        if isinstance(rec, Quote):
            syms.append(rec.symbol)
            ts.append(rec.t)
            bids.append(price_units(rec.bid, "bid"))
            asks.append(price_units(rec.ask, "ask"))
    return syms, ts, bids, asks


def capture_quotes(
    paths: Iterable[str | Path],
) -> tuple[list[str], list[int], list[int], list[int]]:
    """(symbols, ts µs, bids, asks in 1e-8 units) of the captures' quotes, in time order.

    Ties keep file order, then the order of `paths`.
    """
    syms: list[str] = []
    ts: list[int] = []
    bids: list[int] = []
    asks: list[int] = []
    for path in paths:
        for lines, _ in iter_line_batches(path):
            q, _, other = split_streams(lines)
            for s, t, b, a in (quote_units(q), _slow_quotes(other)):
                syms += s
                ts += t
                bids += b
                asks += a
    order = sorted(range(len(ts)), key=ts.__getitem__)  # stable
    return (
        [syms[i] for i in order],
        [ts[i] for i in order],
        [bids[i] for i in order],
        [asks[i] for i in order],
    )


def engine_quotes(
    paths: Iterable[str | Path], engine: Engine, *, add_missing: bool = True
) -> tuple[list[int], list[int], list[int], list[int]]:
    """Engine-ready (sids, ts, bids, asks) of the captures' quotes, for `Engine.feed_quotes`.

    Symbols unknown to the engine are added as default instruments when `add_missing`,
    else the engine raises BadInput.
    """
    syms, ts, bids, asks = capture_quotes(paths)
    sid_of: dict[str, int] = {}
    for s in sorted(set(syms)):
        if add_missing and s not in engine.symbols:
            engine.add_instrument(Instrument(s))
        sid_of[s] = engine.symbol_id(s)
    return [sid_of[s] for s in syms], ts, bids, asks


def _slow_quotes(lines: Sequence[bytes]) -> tuple[list[str], list[int], list[int], list[int]]:
    recs = [r for r in map(parse_frame, lines) if isinstance(r, Quote)]
    return (
        [r.symbol for r in recs],
        [r.t for r in recs],
        [price_units(r.bid, "bid") for r in recs],
        [price_units(r.ask, "ask") for r in recs],
    )


def _dec(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise BadFrame(f"expected a decimal string, not {value!r}")
    d = Decimal(value)
    if not d.is_finite():
        raise BadFrame(f"expected a finite decimal, not {value!r}")
    return d


def _units(text: bytes) -> int:
    """Exact int units (1e-8) of decimal text such as b"61837.63000000"."""
    i = text.find(b".")
    if i < 0:
        return int(text) * 100_000_000
    frac = text[i + 1 :]
    if len(frac) > 8:
        if frac[8:].strip(b"0"):
            raise BadNumber(f"price {text.decode()!r} has more than 8 decimal places")
        frac = frac[:8]
    return int(text[:i] + frac.ljust(8, b"0"))
