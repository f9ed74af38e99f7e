"""The same strategy, paper-trading live on a `workbench serve` account: `run_live`.

    from workbench.backtest.live import run_live
    result = run_live(Bracket, "http://127.0.0.1:8000", email="me@example.com",
                      password="...", symbols=["BTC_USDC"], params={"band": "0.002"},
                      duration=600)  # seconds; None: until stop() or Ctrl-C
    result.stats, result.closed, result.plot()

Quotes and the account's own events come over /ws (with the account's token); commands go
over REST with that token, so the trades are the account's (the dashboard shows them).
The hooks are the backtest's, called from one thread: `on_start` once every symbol has
had a quote, `on_quote`, `on_bar` (the backtest's bar builder, on the quotes' time),
`on_event`, `on_finish`. The socket reconnects with backoff when it drops (the server
restarted, say), subscribes again and reads the account's positions and pending orders
back: what changed meanwhile is handed to `on_event` as events marked `recovered`. A
command is sent once (see `live_orders`). The run's events come back as a `Result`.
Trade the account from this run only: events of orders it did not place are passed on,
but a command is recognised on the server by what it asked for.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from decimal import Decimal
from typing import Any

import httpx

from ..domain import DEFAULT_INSTRUMENTS, Instrument
from ..money import as_decimal, price_units, to_units
from .bars import BarBuilder, interval_us
from .live_book import Book
from .live_commands import FAILURES, Commanding
from .live_context import LiveContext
from .live_link import FIRST_DELAY, MAX_DELAY, Rest, Socket
from .live_orders import Call
from .result import Result
from .saved import strategy_params
from .strategy import Tick, as_strategy, hook
from .tickets import Commands, Ticket

log = logging.getLogger("workbench.live")
PRICE_POINTS = 20_000


class LiveError(RuntimeError):
    """The run cannot go on (the token refused for good, the server never answered)."""


class LiveResult(Result):
    """A live run's `Result`; `ids` maps the strategy's refs to the server's order ids."""

    ids: dict[str, str]
    url: str


class LiveRunner(Commanding):
    """One strategy trading one account of a server; `run()` until `stop()`."""

    def __init__(
        self, strategy: Any, url: str, *, email: str | None = None,
        password: str | None = None, token: str | None = None,
        symbols: list[str] | None = None, params: dict[str, Any] | None = None,
        bars: str | int | None = None, sample_every: str | int | None = "1m",
        instruments: list[Instrument] = (),  # type: ignore[assignment]
        patience: float = 300.0, answer_wait: float = 2.0,
    ) -> None:  # fmt: skip
        if params:
            if not isinstance(strategy, type):
                raise TypeError("params= needs the strategy class, not an instance")
            strategy = strategy(**params)
        self.strategy = as_strategy(strategy)
        self.params = strategy_params(self.strategy)  # as built, before any hook
        self.rest = Rest(url, token=token, email=email, password=password)
        self.url = self.rest.base_url
        self.patience, self.answer_wait = patience, answer_wait
        me = self.rest.get("/auth/me")
        self.account = str(me["user"]["id"])
        known = [p["symbol"] for p in self.rest.get("/prices")["prices"]]
        declared = getattr(self.strategy, "symbols", None)  # Strategy.symbols, as backtests
        self.symbols = list(symbols or declared or known)
        unknown = [s for s in self.symbols if s not in known]
        if unknown:
            raise ValueError(f"the server has no {unknown} (it has {known})")
        self.instruments = {i.symbol: i for i in (*DEFAULT_INSTRUMENTS, *instruments)}
        self.decimals: dict[str, int] = {}
        self.book = Book(self.account)
        self.commands = Commands(self.account, None)
        self.ctx = LiveContext(self, self.account, self.symbols)
        self.clock = _Clock()
        self.quotes: dict[str, dict[str, Any]] = {}
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.held: deque[tuple[str, Any]] = deque()
        self.socket = Socket(self.rest, self.symbols, self.inbox)
        self.stopping = threading.Event()
        self.hooks = {h: hook(self.strategy, h) for h in
                      ("on_start", "on_quote", "on_bar", "on_event", "on_finish")}  # fmt: skip
        want = bars or getattr(self.strategy, "bars", None)
        if self.hooks["on_bar"] and want is None:
            raise ValueError("the strategy has on_bar: give bars='1m' (or set its `bars`)")
        self.builder = BarBuilder(interval_us(want), self.symbols) if want else None
        self.sample_iv = interval_us(sample_every) if sample_every is not None else None
        self.next_sample: int | None = None
        self.events: list[dict[str, Any]] = []
        self.samples: list[tuple[Any, ...]] = []
        self.due: list[tuple[str, int]] = []  # samples to take (kind, t)
        self.prices: tuple[list[str], list[int], list[int], list[int]] = ([], [], [], [])
        self.first: dict[str, tuple[int, int, int]] = {}
        self.stride, self.count = 1, 0
        self.waiting_for = set(self.symbols)
        self.unresolved: list[tuple[Call, Ticket]] = []
        self.stale: float | None = None
        self.received = 0.0  # perf_counter() when the quote being handled arrived
        self.loaded = False

    # ------------------------------------------------------------------ run
    def stop(self) -> None:
        """End the run (from another thread, a hook, or a signal handler)."""
        self.stopping.set()

    def run(self, duration: float | None = None) -> LiveResult:
        """Trade until `duration` seconds have passed, `stop()` or Ctrl-C; the Result."""
        wall = time.perf_counter()
        end = None if duration is None else time.monotonic() + duration
        self.socket.start()
        try:
            self._first_up()
            while not self.stopping.is_set():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    break
                item = self._next(0.2 if left is None else min(0.2, left))
                if item is not None:
                    self._handle(item)
                if self.due and not self.held and self.inbox.empty():
                    self._take_samples()  # when nothing waits: never before a quote
                if self.stale is not None and time.monotonic() >= self.stale:
                    self._resync()
        except KeyboardInterrupt:
            log.warning("stopped (Ctrl-C)")
        finally:
            self.socket.stop()
        if self.hooks["on_finish"]:
            self.hooks["on_finish"](self.ctx)
        self._sample("end", self.clock.t)
        self._take_samples()
        self.socket.join(2)
        return self._result(time.perf_counter() - wall)

    def _first_up(self) -> None:
        deadline = time.monotonic() + self.patience
        while not self.loaded:
            item = self._next(max(0.0, min(0.5, deadline - time.monotonic())))
            if item is None:
                if time.monotonic() >= deadline or self.stopping.is_set():
                    raise LiveError(f"no WebSocket from {self.url} within {self.patience:g} s")
                continue
            self._handle(item)

    def _next(self, timeout: float) -> tuple[str, Any] | None:
        if self.held:
            return self.held.popleft()
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def _handle(self, item: tuple[str, Any]) -> None:
        kind, value = item[0], item[1]
        if kind == "msg":
            if value.get("type") == "quote":
                self.received = item[2] if len(item) > 2 else time.perf_counter()
                self._quote(value)
            elif value.get("account") == self.account:
                ev = self._take(value)
                if ev is not None:
                    self._dispatch(ev)
        elif kind == "event":
            self._dispatch(value)
        elif kind == "up":
            self._up()
        elif kind == "down":
            log.warning("the WebSocket dropped (%s): reconnecting", value)
        elif kind == "fatal":
            raise LiveError(value)

    def _up(self) -> None:
        """Connected and subscribed: read the account (back) from the server."""
        if not self.loaded:
            self.start_figures = self.figures()
            found = self.book.load(self.rest.get("/trade/orders", params={"status": "open"})[
                "orders"], self.rest.get("/trade/pending")["orders"])  # fmt: skip
            self.events += found
            self.loaded = True
            log.info("trading %s on %s as %s: %d open, %d pending", self.symbols, self.url,
                     self.account, len(self.book.positions), len(self.book.pending))  # fmt: skip
            return
        log.warning("the WebSocket is back: reading the account back from the server")
        self._catch_up_prices()
        self._resync()

    # --------------------------------------------------------------- quotes
    def _quote(self, m: dict[str, Any]) -> None:
        sym, t = m["symbol"], int(m["t"])
        if sym not in self.waiting_for and sym not in self.quotes:
            return
        bid, ask = price_units(m["bid"]), price_units(m["ask"])
        if self.builder is not None:
            if self.builder.next_end is not None and t >= self.builder.next_end:
                self.clock.t = self.builder.next_end
                for bar in self.builder.due(t):
                    if self.hooks["on_bar"]:
                        self.hooks["on_bar"](self.ctx, bar)
            self.builder.add(self.symbols.index(sym), t, bid, ask)
        self._interval(t)
        self.quotes[sym] = {"symbol": sym, "t": t, "bid": as_decimal(bid, 8),
                            "ask": as_decimal(ask, 8)}  # fmt: skip
        self._decimals(sym, m["bid"], m["ask"])
        self.first.setdefault(sym, (t, bid, ask))
        self._keep(sym, t, bid, ask)
        self.clock.t = t
        if self.waiting_for:
            self.waiting_for.discard(sym)
            if self.waiting_for:
                return
            if self.hooks["on_start"]:
                self.hooks["on_start"](self.ctx)
        if self.hooks["on_quote"]:
            self.clock.t = t
            self.hooks["on_quote"](self.ctx, Tick(sym, t, bid, ask))

    def _interval(self, t: int) -> None:
        if self.sample_iv is None:
            return
        if self.next_sample is None:
            self._sample("start", t)
            self.next_sample = (t // self.sample_iv + 1) * self.sample_iv
        elif t >= self.next_sample:
            self._sample("interval", self.next_sample)
            self.next_sample += ((t - self.next_sample) // self.sample_iv + 1) * self.sample_iv

    def _keep(self, sym: str, t: int, bid: int, ask: int) -> None:
        """Every `stride`-th quote for the plots; the stride doubles past 2 x PRICE_POINTS."""
        self.count += 1
        if self.count % self.stride:
            return
        for col, v in zip(self.prices, (sym, t, bid, ask), strict=True):
            col.append(v)  # type: ignore[arg-type]
        if len(self.prices[0]) > 2 * PRICE_POINTS:
            self.prices = tuple(col[::2] for col in self.prices)  # type: ignore[assignment]
            self.stride *= 2

    def _decimals(self, sym: str, *texts: str) -> None:
        dp = max(len(x.partition(".")[2]) for x in texts)
        if dp > self.decimals.get(sym, -1):
            self.decimals[sym] = dp

    # --------------------------------------------------------------- events
    def _dispatch(self, ev: dict[str, Any]) -> None:
        log.info("%s", describe(ev))
        self.events.append(ev)
        t = ev["t"] if ev["t"] is not None else self.clock.t
        self._sample(ev["type"], t)
        if self.hooks["on_event"]:
            self.clock.t = t
            self.hooks["on_event"](self.ctx, ev)

    def _sample(self, kind: str, t: int) -> None:
        """Figures are due at t: asked of the server once nothing waits to be handled."""
        self.due.append((kind, t))

    def _take_samples(self) -> None:
        """The server's figures now, for the samples due since the last ones."""
        try:
            f = self.figures()
        except FAILURES:
            return  # the server is away: taken when it is back
        row = (f["balance"], f["equity"], f["used_margin"], f["free_margin"],
               f["margin_level"], f["open_positions"])  # fmt: skip
        self.samples += [(self.account, t, kind, *row) for kind, t in self.due]
        self.due.clear()

    # ---------------------------------------------------------------- views
    def figures(self, wait: bool = False) -> dict[str, Any]:
        """The account's figures from the server; `wait`: for up to `patience` seconds
        while the server is away (else a ConnectionError or httpx error at once)."""
        deadline = time.monotonic() + (self.patience if wait else 0.0)
        delay = FIRST_DELAY
        while True:
            try:
                b = self.rest.get("/balance")
                break
            except (ConnectionError, httpx.TransportError):
                if time.monotonic() >= deadline or self.stopping.wait(delay):
                    raise
                delay = min(delay * 2, MAX_DELAY)
        out: dict[str, Any] = {"account": self.account, "margin_mode": b["margin_mode"]}
        for k in ("balance", "equity", "used_margin", "free_margin", "margin_level"):
            out[k] = None if b.get(k) is None else _dec(b[k])
        out["open_positions"] = b["open_positions"]
        out["pending_orders"] = len(self.book.pending)
        return out

    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:  # the server's rule for one it does not know: the prices' tick
            dp = self.decimals.get(symbol)
            inst = Instrument(symbol) if dp is None else Instrument(symbol, Decimal(1).scaleb(-dp))
        return inst

    def _result(self, wall_s: float) -> LiveResult:
        f = getattr(self, "start_figures", None) or {"margin_mode": "isolated", "balance": 0}
        balance = to_units(f["balance"], 16, "balance")
        res = LiveResult(
            raw_events=self.events, samples=self.samples,
            accounts={self.account: (f["margin_mode"], balance)}, symbols=self.symbols,
            prices=self.prices, engine=None, rejections=self.commands.rejections,
            quotes=self.count, sample_every=self.sample_iv, wall_s=wall_s,
            first_quotes=self.first, params={self.account: self.params},
        )  # fmt: skip
        res.ids = dict(self.book.server)
        res.url = self.url
        return res


def describe(ev: dict[str, Any]) -> str:
    """An event in a line: its type and ref, then its figures."""
    skip = ("seq", "t", "type", "account", "ref", "id")
    rest = " ".join(f"{k}={v}" for k, v in ev.items() if k not in skip and v is not None)
    return f"{ev['type']} {ev.get('ref') or ''} {rest}".replace("  ", " ")


class _Clock:
    __slots__ = ("t",)

    def __init__(self) -> None:
        self.t = 0


def _dec(text: Any) -> Decimal:
    return Decimal(str(text))


def run_live(
    strategy: Any, url: str = "http://127.0.0.1:8000", *, duration: float | None = None,
    **options: Any,
) -> LiveResult:  # fmt: skip
    """Run `strategy` (a Strategy class, or instance) live on the server at `url`: see the
    module docstring. options: email= and password=, or token=; symbols=, params=,
    bars=, sample_every=, instruments=, patience= (seconds to wait for a server that is
    away)."""
    return LiveRunner(strategy, url, **options).run(duration)
