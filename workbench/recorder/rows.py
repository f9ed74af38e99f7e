"""Rows of the tick store built from parsed Backpack frames, and the duplicate filter.

Rows are tuples in the column order of `workbench.store.schema`; every decimal is checked
to fit its DECIMAL column exactly (DuckDB would otherwise round extra decimals silently).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

from workbench.feeds.backpack import BookTicker, Trade

log = logging.getLogger(__name__)

SOURCE = "backpack"
QUOTE_COLUMNS = (
    "symbol",
    "t",
    "e",
    "recv",
    "bid",
    "ask",
    "bid_qty",
    "ask_qty",
    "update_id",
    "source",
)
TRADE_COLUMNS = ("symbol", "trade_id", "t", "e", "recv", "price", "qty", "buyer_maker", "source")
GAP_COLUMNS = ("symbol", "start_us", "end_us", "reason", "source")
COLUMNS = {"quotes": QUOTE_COLUMNS, "trades": TRADE_COLUMNS, "gaps": GAP_COLUMNS}

PRICE_PRECISION, PRICE_SCALE = 18, 8
QTY_PRECISION, QTY_SCALE = 38, 8
BIGINT_MAX = 2**63 - 1
#: An id at or below the last one seen is a duplicate unless its engine time is this much
#: newer: then the exchange has restarted its ids, and the id history starts again.
ID_RESET_AFTER_US = 60_000_000


class RowRejected(ValueError):
    """A frame whose values do not fit the tick store's columns exactly."""


def fits(value: Decimal, precision: int, scale: int) -> bool:
    """True when `value` is exactly representable as DECIMAL(precision, scale)."""
    exp = value.as_tuple().exponent
    if not isinstance(exp, int):
        return False
    if exp < -scale:
        exp = value.normalize().as_tuple().exponent
        if not isinstance(exp, int) or exp < -scale:
            return False
    return abs(value) < Decimal(10) ** (precision - scale)


def _price(value: Decimal, what: str) -> Decimal:
    if not fits(value, PRICE_PRECISION, PRICE_SCALE):
        raise RowRejected(f"{what} {value} does not fit DECIMAL({PRICE_PRECISION},{PRICE_SCALE})")
    return value


def _qty(value: Decimal, what: str) -> Decimal:
    if not fits(value, QTY_PRECISION, QTY_SCALE):
        raise RowRejected(f"{what} {value} does not fit DECIMAL({QTY_PRECISION},{QTY_SCALE})")
    return value


def _bigint(value: int, what: str) -> int:
    if not -BIGINT_MAX <= value <= BIGINT_MAX:
        raise RowRejected(f"{what} {value} does not fit BIGINT")
    return value


def quote_row(q: BookTicker, recv_us: int) -> tuple[object, ...]:
    """A `quotes` row: t = T, e = E, recv = local receive time."""
    return (
        q.symbol,
        _bigint(q.t, "T"),
        _bigint(q.e, "E"),
        recv_us,
        _price(q.bid, "bid"),
        _price(q.ask, "ask"),
        _qty(q.bid_qty, "bid qty"),
        _qty(q.ask_qty, "ask qty"),
        _bigint(q.update_id, "update id"),
        SOURCE,
    )


def trade_row(tr: Trade, recv_us: int) -> tuple[object, ...]:
    """A `trades` row: buyer_maker = m."""
    return (
        tr.symbol,
        _bigint(tr.trade_id, "trade id"),
        _bigint(tr.t, "T"),
        _bigint(tr.e, "E"),
        recv_us,
        _price(tr.price, "price"),
        _qty(tr.qty, "qty"),
        tr.buyer_maker,
        SOURCE,
    )


def gap_row(
    start_us: int, end_us: int, reason: str, symbol: str | None = None
) -> tuple[object, ...]:
    """A `gaps` row; symbol None means the whole connection was down."""
    return (symbol, start_us, max(start_us, end_us), reason, SOURCE)


class Deduper:
    """Keeps, per symbol, the highest id seen and its engine time; refuses ids at or below it.

    Backpack's bookTicker update ids and trade ids increase per symbol, so a frame with an
    id already passed is one the server re-sent (a snapshot after a reconnect).
    """

    def __init__(self, seed: Mapping[str, tuple[int, int]] | None = None) -> None:
        """`seed`: symbol -> (last id, last engine time) already stored."""
        self._last: dict[str, tuple[int, int]] = dict(seed or {})

    def accept(self, symbol: str, ident: int, t: int) -> bool:
        """True (and remember it) when (ident, t) is new for `symbol`."""
        last = self._last.get(symbol)
        if last is not None and ident <= last[0]:
            if t <= last[1] + ID_RESET_AFTER_US:
                return False
            log.warning(
                "%s: id %d after %d but %.1fs newer: ids restarted",
                symbol,
                ident,
                last[0],
                (t - last[1]) / 1e6,
            )
        self._last[symbol] = (ident, t)
        return True

    def last(self, symbol: str) -> tuple[int, int] | None:
        """The last accepted (id, engine time) of `symbol`."""
        return self._last.get(symbol)
