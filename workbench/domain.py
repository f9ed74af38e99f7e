"""The pure domain model: instruments, positions and accounts (no I/O, no clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .ladder import Ladder
from .money import (
    BadNumber,
    fmt_decimal,
    fmt_price,
    price_units,
    ratio,
    to_decimal,
)

LONG = 1
SHORT = -1
LIMIT = "limit"
STOP = "stop"
ORDER_KINDS = (LIMIT, STOP)
SIDES = {"long": LONG, "short": SHORT}
SIDE_NAMES = {LONG: "long", SHORT: "short"}

ISOLATED = "isolated"
CROSS = "cross"
MARGIN_MODES = (ISOLATED, CROSS)

DEFAULT_DEMO_BALANCE = Decimal(5000)
DEFAULT_MAX_QUOTE_AGE_US = 10_000_000
DEFAULT_MARGIN_CALL_LEVEL = Decimal(60)
DEFAULT_STOP_OUT_LEVEL = Decimal(0)

INSTRUMENT_FIELDS = (
    "symbol",
    "tick_size",
    "max_leverage",
    "commission_rate",
    "spread_markup_bps",
    "swap_long",
    "swap_short",
)


@dataclass(frozen=True)
class Instrument:
    """An instrument is data: its symbol and its trading parameters (exact decimals)."""

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    max_leverage: Decimal = Decimal(100)
    commission_rate: Decimal = Decimal(0)
    spread_markup_bps: Decimal = Decimal(0)
    swap_long: Decimal = Decimal(0)
    swap_short: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            raise BadNumber("instrument symbol must be a non-empty string")
        if self.tick_size <= 0:
            raise BadNumber(f"{self.symbol}: tick_size must be positive")
        price_units(self.tick_size, f"{self.symbol} tick_size")
        if self.max_leverage < 1:
            raise BadNumber(f"{self.symbol}: max_leverage must be at least 1")
        if self.commission_rate < 0 or self.commission_rate >= 1:
            raise BadNumber(f"{self.symbol}: commission_rate must be in [0, 1)")
        if self.spread_markup_bps < 0 or self.spread_markup_bps >= 10_000:
            raise BadNumber(f"{self.symbol}: spread_markup_bps must be in [0, 10000)")

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Instrument:
        """Build from a dict of decimal strings (a scenario line, a config file)."""
        unknown = set(fields) - set(INSTRUMENT_FIELDS) - {"t", "type"}
        if unknown:
            raise BadNumber(f"unknown instrument field(s): {', '.join(sorted(unknown))}")
        if "symbol" not in fields:
            raise BadNumber("instrument needs a symbol")
        kwargs: dict[str, Any] = {"symbol": fields["symbol"]}
        for name in INSTRUMENT_FIELDS[1:]:
            if name in fields:
                kwargs[name] = to_decimal(fields[name], name)
        return cls(**kwargs)

    def to_fields(self) -> dict[str, str]:
        out = {"symbol": self.symbol}
        for name in INSTRUMENT_FIELDS[1:]:
            out[name] = fmt_decimal(getattr(self, name))
        return out

    @property
    def tick_units(self) -> int:
        return price_units(self.tick_size)


DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("BTC_USDC", tick_size=Decimal("0.1")),
    Instrument("ETH_USDC", tick_size=Decimal("0.01")),
    Instrument("SOL_USDC", tick_size=Decimal("0.01")),
)


class SymbolBook:
    """Engine-side state of one instrument: last quote and the trigger index heaps."""

    __slots__ = (
        "sid", "inst", "bid", "ask", "t", "tick", "markup_num", "markup_den",
        "comm", "swap_long", "swap_short",
        "long_tp", "long_stop", "short_tp", "short_stop", "cross_bid", "cross_ask",
        "buy_limit", "buy_stop", "sell_limit", "sell_stop", "trail_long_hit",
        "trail_long_raise", "trail_short_hit", "trail_short_raise", "trail_groups", "hot",
        "lo_bid", "hi_bid", "lo_ask", "hi_ask", "compact_at", "price_dp", "rules", "live",
    )  # fmt: skip

    def __init__(self, sid: int, inst: Instrument) -> None:
        self.sid = sid
        self.bid = 0
        self.ask = 0
        self.t = -1
        self.hot: set[int] = set()
        # Positions' trigger prices: ladders of int keys price << 40 | pid (see
        # engine/index.py); "down" triggers store the negated price.
        self.live: dict[int, Position] = {}  # pid -> open position indexed here
        self.long_tp = Ladder()  # bid >= tp
        self.long_stop = Ladder()  # bid <= liq / sl (-price)
        self.short_tp = Ladder()  # ask <= tp (-price)
        self.short_stop = Ladder()  # ask >= liq / sl
        # min-heaps of (key, id, obj); "down" triggers store the negated price as key.
        self.cross_bid: list[tuple[int, int, int]] = []  # bid <= thr (key -thr, account, ver)
        self.cross_ask: list[tuple[int, int, int]] = []  # ask >= thr (key thr, account, ver)
        # pending orders: (key, oid, order)
        self.buy_limit: list[tuple[int, int, Any]] = []  # ask <= price (key -price)
        self.buy_stop: list[tuple[int, int, Any]] = []  # ask >= price
        self.sell_limit: list[tuple[int, int, Any]] = []  # bid >= price
        self.sell_stop: list[tuple[int, int, Any]] = []  # bid <= price (key -price)
        # trailing stops, by group (see engine/trailing.py): (key, gid, group)
        self.trail_long_hit: list[tuple[int, int, Any]] = []  # bid <= level (key -level)
        self.trail_long_raise: list[tuple[int, int, Any]] = []  # bid > anchor (key anchor)
        self.trail_short_hit: list[tuple[int, int, Any]] = []  # ask >= level (key level)
        self.trail_short_raise: list[tuple[int, int, Any]] = []  # ask < anchor (key -anchor)
        self.trail_groups: dict[tuple[int, int], Any] = {}  # (side, anchor) -> live group
        self.rules: Any = None  # the index's (heap, liveness test) pairs, built on first use
        self.set_instrument(inst)
        self.lo_bid = -1
        self.hi_bid = 1 << 62
        self.lo_ask = -1
        self.hi_ask = 1 << 62
        self.compact_at = 256

    def set_instrument(self, inst: Instrument) -> None:
        self.inst = inst
        self.tick = inst.tick_units
        exp = inst.tick_size.normalize().as_tuple().exponent
        self.price_dp = max(0, -exp) if isinstance(exp, int) else 0
        self.markup_num, self.markup_den = inst.spread_markup_bps.as_integer_ratio()
        self.comm = ratio(inst.commission_rate, "commission_rate")
        self.swap_long = ratio(inst.swap_long, "swap_long")
        self.swap_short = ratio(inst.swap_short, "swap_short")

    def mark(self, bid: int, ask: int) -> tuple[int, int]:
        """Widen a raw quote by the instrument's markup, half on each side, to the tick."""
        half = (bid + ask) * self.markup_num  # mid * bps / 10000 / 2 = (b+a) * bps / 40000
        den = self.markup_den * 40_000
        tick = self.tick
        b = bid * den - half
        a = ask * den + half
        bid2 = (b // (den * tick)) * tick
        ask2 = -((-a) // (den * tick)) * tick
        return max(bid2, tick if bid > 0 else 0), ask2

    def fmt(self, price: int) -> str:
        """A price of this instrument as text, padded to the tick size ("61499.10")."""
        return fmt_price(price, self.price_dp)


class Position:
    """An open (or just closed) CFD position. Prices/qty in 1e-8 units, money in 1e-16."""

    __slots__ = (
        "pid", "account", "ref", "book", "side", "qty", "open_price", "margin",
        "leverage", "fee", "tp", "sl", "liq", "opened_t", "swap", "open", "trail", "tgroup",
    )  # fmt: skip

    def __init__(
        self,
        pid: int,
        account: Account,
        ref: str,
        book: SymbolBook,
        side: int,
        qty: int,
        open_price: int,
        margin: int,
        leverage: Decimal,
        fee: int,
        tp: int | None,
        sl: int | None,
        opened_t: int,
    ) -> None:
        self.pid = pid
        self.account = account
        self.ref = ref
        self.book = book
        self.side = side
        self.qty = qty
        self.open_price = open_price
        self.margin = margin
        self.leverage = leverage
        self.fee = fee
        self.tp = tp
        self.sl = sl
        self.liq: int | None = None
        self.opened_t = opened_t
        self.swap = 0
        self.open = True
        self.trail: int | None = None  # trailing-stop distance (price units)
        self.tgroup: Any = None  # its trailing.Group: the anchor (best price since set)

    def trail_level(self) -> int | None:
        """The trailing stop's current level: anchor -/+ distance (None without one)."""
        if self.trail is None:
            return None
        return self.tgroup.anchor - self.trail * self.side

    def close_price(self) -> int:
        """The closing-side price of the last quote: bid for a long, ask for a short."""
        return self.book.bid if self.side == LONG else self.book.ask

    def upnl_at(self, p: int) -> int:
        return self.qty * (p - self.open_price) * self.side

    def upnl(self) -> int:
        return self.upnl_at(self.close_price())


class Order:
    """A pending limit or stop order: it opens a position when a quote reaches its price."""

    __slots__ = (
        "oid", "account", "ref", "book", "side", "kind", "price", "margin", "qty",
        "leverage", "tp", "sl", "trail", "expires", "placed_t", "live",
    )  # fmt: skip

    def __init__(
        self,
        oid: int,
        account: Account,
        ref: str,
        book: SymbolBook,
        side: int,
        kind: str,
        price: int,
        margin: int | None,
        qty: int | None,
        leverage: Decimal,
        placed_t: int,
    ) -> None:
        self.oid = oid
        self.account = account
        self.ref = ref
        self.book = book
        self.side = side
        self.kind = kind
        self.price = price
        self.margin = margin  # exactly one of margin (money units) and qty (1e-8 units)
        self.qty = qty
        self.leverage = leverage
        self.tp: int | None = None
        self.sl: int | None = None
        self.trail: int | None = None
        self.expires: int | None = None
        self.placed_t = placed_t
        self.live = True

    def triggered(self, bid: int, ask: int) -> bool:
        """Long limit: ask <= price; long stop: ask >= price; short mirrored on the bid."""
        if self.side == LONG:
            return ask <= self.price if self.kind == LIMIT else ask >= self.price
        return bid >= self.price if self.kind == LIMIT else bid <= self.price


@dataclass
class Exposure:
    """Aggregates of one account's open positions in one symbol (for O(1) upnl)."""

    long_qty: int = 0
    long_cost: int = 0
    short_qty: int = 0
    short_cost: int = 0
    count: int = 0

    def upnl(self, bid: int, ask: int) -> int:
        return self.long_qty * bid - self.long_cost + self.short_cost - self.short_qty * ask


@dataclass
class Account:
    """A paper account: its ledger (money units), its settings and its open positions."""

    index: int
    name: str
    mode: str
    demo_balance: int
    balance: int
    maintenance_rate: tuple[int, int] = (0, 1)
    margin_call_level: tuple[int, int] = (60, 1)
    stop_out_level: tuple[int, int] = (0, 1)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    exposure: dict[int, Exposure] = field(default_factory=dict)
    used_margin: int = 0
    armed: bool = True
    xver: int = 0
    hot: set[int] = field(default_factory=set)
    # Running totals, so that money conservation can be checked at any time.
    deposits: int = 0
    realized: int = 0
    fees: int = 0
    swaps: int = 0
    written_off: int = 0
    resets: int = 0

    def upnl_total(self, books: list[SymbolBook]) -> int:
        total = 0
        for sid, ex in self.exposure.items():
            b = books[sid]
            total += ex.upnl(b.bid, b.ask)
        return total

    def equity(self, books: list[SymbolBook]) -> int:
        return self.balance + self.upnl_total(books)

    def add_exposure(self, pos: Position, sign: int) -> None:
        ex = self.exposure.get(pos.book.sid)
        if ex is None:
            ex = self.exposure[pos.book.sid] = Exposure()
        cost = pos.qty * pos.open_price
        if pos.side == LONG:
            ex.long_qty += sign * pos.qty
            ex.long_cost += sign * cost
        else:
            ex.short_qty += sign * pos.qty
            ex.short_cost += sign * cost
        ex.count += sign
        if ex.count == 0:
            del self.exposure[pos.book.sid]
        self.used_margin += sign * pos.margin


def side_of(value: object) -> int:
    if not isinstance(value, str) or value not in SIDES:
        raise BadNumber(f"side must be 'long' or 'short', not {value!r}")
    return SIDES[value]
