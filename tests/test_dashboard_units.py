"""The dashboards' own parts without a browser: candles, the replay player, the figures."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np

from server.dashboard.messages import notice
from server.dashboard.player import Player, synthetic_tape
from server.dashboard.producer import Candles, Producer
from server.dashboard.view import money
from workbench.backtest.examples import Bracket


def test_candles_in_bulk_equal_candles_one_by_one() -> None:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.integers(1, 400_000, 5000)) + 1_700_000_000_000_000
    mid = 60_000 + np.cumsum(rng.normal(0, 5, 5000))
    one, bulk = Candles(5), Candles(5)
    for ti, m in zip(t.tolist(), mid.tolist(), strict=True):
        one.add(ti, m)
    for a in range(0, 5000, 777):  # uneven slices, candles cut across them
        bulk.add_many(t[a : a + 777], mid[a : a + 777])
    assert one.tail() == bulk.tail()
    assert len(one.t) > 100


def test_seeking_back_replays_to_the_same_state() -> None:
    tape = synthetic_tape(quotes=20_000)
    p = Player(tape, speed=0, strategy=lambda: Bracket(band="0.001"), max_step=500)
    p.playing = True
    p.advance(0.1)
    p.start_strategy()
    p.command({"type": "open", "symbol": tape.symbols[0], "side": "short", "leverage": "5",
               "margin": "50"})  # fmt: skip
    while not p.done:
        p.advance(0.1)
    end = p.engine.account_state("replay")
    closed = sum(1 for _ in p.engine.positions("replay"))
    p.seek(0.25)
    assert p.pos == 5000
    p.seek(1.0)
    assert p.engine.account_state("replay") == end
    assert sum(1 for _ in p.engine.positions("replay")) == closed


def test_money_is_shown_to_the_cent_half_up() -> None:
    assert money(Decimal("5000")) == "5,000.00"
    assert money("-27.373294926", sign=True) == "-27.37"
    assert money("0.005", sign=True) == "+0.01"
    assert money("-0.004", sign=True) == "+0.00"  # no "-0.00"
    assert money(None) == "—"


def test_notices_name_the_position_of_a_closed_event() -> None:
    known = {"r1": ("BTC_USDC", "long")}
    ev = {"type": "closed", "ref": "r1", "reason": "liquidation", "price": "58000.0",
          "pnl": "-100"}  # fmt: skip
    assert notice(ev, known) == ("error", "Liquidated: BTC_USDC long at 58000.0, P/L -100.00")
    assert notice({**ev, "reason": "manual"}, known) is None
    tp = notice({**ev, "reason": "take_profit", "pnl": "12.5"}, known)
    assert tp == ("success", "Take-profit filled: BTC_USDC long at 58000.0, P/L +12.50")
    assert notice({"type": "margin_call", "margin_level": "55.20"}, {})[0] == "warning"  # type: ignore[index]


class _Doc:
    def __init__(self) -> None:
        self.calls: list[object] = []

    def add_next_tick_callback(self, fn: object) -> None:
        self.calls.append(fn)


class _Session:
    def __init__(self, account: str | None) -> None:
        self.doc = _Doc()
        self.account = account
        self.pushes: list[object] = []

    def apply(self, push: object) -> None:
        self.pushes.append(push)


def test_one_flush_coalesces_quotes_and_routes_events_to_their_owner() -> None:
    reads: list[list[str]] = []

    async def read_accounts(accounts: list[str]) -> dict[str, object]:
        reads.append(accounts)
        return {a: ({"balance": Decimal(5000)}, []) for a in accounts}

    async def run() -> tuple[_Session, _Session, _Session]:
        prod = Producer(read_accounts, lambda: {"state": "LIVE"})
        prod.loop = asyncio.get_running_loop()
        a, b, anon = _Session("a"), _Session("b"), _Session(None)
        for s in (a, b, anon):
            prod.register(s)
        quotes = [("BTC_USDC", 1_000_000 * i, 6_000_000_000_000 + i, 6_000_000_100_000 + i)
                  for i in range(1, 1001)]  # fmt: skip
        prod._take([{"type": "opened", "account": "a", "ref": "x"}], quotes)
        await prod.flush()
        return a, b, anon

    a, b, anon = asyncio.run(run())
    assert len(reads) == 1 and reads[0] == ["a", "b"]  # one engine read for all sessions
    for s in (a, b, anon):
        assert len(s.doc.calls) == 1  # one push per session, not one per quote
        s.doc.calls[0]()  # type: ignore[operator]
    push_a, push_b = a.pushes[0], b.pushes[0]
    assert push_a.quotes["BTC_USDC"][1] == 1_000_000_000  # type: ignore[attr-defined]
    assert [e["ref"] for e in push_a.events] == ["x"]  # type: ignore[attr-defined]
    assert push_b.events == [] and push_b.account is not None  # type: ignore[attr-defined]
    assert anon.pushes[0].account is None  # type: ignore[attr-defined]


def test_the_producer_builds_the_candles_of_every_quote() -> None:
    """Aggregated per second within each batch, the candles equal candles of each quote."""
    rng = np.random.default_rng(2)
    n = 20_000
    t = (np.cumsum(rng.integers(1, 60_000, n)) + 1_700_000_000_000_000).tolist()
    bid = (6_000_000_000_000 + np.cumsum(rng.integers(-900_000, 1_000_000, n))).tolist()
    quotes = [("BTC_USDC", ti, b, b + 10_000_000) for ti, b in zip(t, bid, strict=True)]

    async def no_accounts(accounts: list[str]) -> dict[str, object]:
        return {}

    prod = Producer(no_accounts, lambda: {})
    for a in range(0, n, 1_234):  # batches cut across seconds and minutes
        prod._take([], quotes[a : a + 1_234])
    for frame, seconds in (("1s", 1), ("1m", 60)):
        one = Candles(seconds)
        for _, ti, b, a in quotes:
            one.add(ti, (b + a) * 0.5e-8)
        assert prod.candles[("BTC_USDC", frame)].tail() == one.tail()
    assert prod.last["BTC_USDC"] == quotes[-1]
