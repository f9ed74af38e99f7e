"""The dashboards' producer folds quote columns in numpy: the same candles as one by one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np

from server.dashboard.producer import FRAMES, SCALE, Candles, Producer
from workbench.live.sink import QuoteColumns

NAMES = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def _quotes(n: int, seed: int) -> list[tuple[int, int, int, int]]:
    """(sid, t, bid, ask): three symbols interleaved, some quotes older than the last."""
    rng = np.random.default_rng(seed)
    t = (np.cumsum(rng.integers(1, 90_000, n)) + 1_700_000_000_000_000).tolist()
    sid = rng.integers(0, 3, n).tolist()
    bid = (6_000_000_000_000 + np.cumsum(rng.integers(-900_000, 1_000_000, n))).tolist()
    stale = rng.random(n) < 0.02  # sent late: 0.1-3 s before the quote before it
    back = rng.integers(100_000, 3_000_000, n).tolist()
    rows = zip(sid, t, bid, stale.tolist(), back, strict=True)
    return [(s, ti - (b if late else 0), bi, bi + 10_000_000) for s, ti, bi, late, b in rows]


async def _none(accounts: list[str]) -> dict[str, object]:
    return {}


def test_columns_fold_to_the_candles_of_each_quote_the_engine_takes() -> None:
    quotes = _quotes(60_000, 5)
    expect = {(s, f): Candles(sec) for s in NAMES for f, sec in FRAMES.items()}
    last: dict[str, tuple[str, int, int, int]] = {}
    for sid, t, bid, ask in quotes:
        sym = NAMES[sid]
        if sym in last and t < last[sym][1]:
            continue  # the engine ignores a quote older than its symbol's last
        last[sym] = (sym, t, bid, ask)
        for f in FRAMES:
            expect[(sym, f)].add(t, (bid + ask) * (SCALE / 2))
    bulk, single = Producer(_none, dict), Producer(_none, dict)
    for a in range(0, len(quotes), 4_567):  # batches cut across seconds and minutes
        cols = QuoteColumns()
        part = quotes[a : a + 4_567]
        cols.add(NAMES, *(list(col) for col in zip(*part, strict=True)))
        bulk._take([], cols)
    head = quotes[:3_003]
    for a in range(0, len(head), 7):  # the plain-Python path (small batches) agrees too
        single._take([], [(NAMES[s], t, b, k) for s, t, b, k in head[a : a + 7]])
    for key, cs in expect.items():
        assert bulk.candles[key].tail() == cs.tail(), key
    assert bulk.last == last
    assert sum(len(cs.t) for cs in expect.values()) > 1_000
    few = {(s, f): Candles(sec) for s in NAMES for f, sec in FRAMES.items()}
    seen: dict[str, int] = {}
    for sid, t, bid, ask in head:
        if t >= seen.get(NAMES[sid], t):
            seen[NAMES[sid]] = t
            for f in FRAMES:
                few[(NAMES[sid], f)].add(t, (bid + ask) * (SCALE / 2))
    for key, cs in few.items():
        assert single.candles[key].tail() == cs.tail(), key


def test_quote_columns_read_as_tuples() -> None:
    cols = QuoteColumns()
    cols.add(NAMES[:2], [0, 1], [10, 11], [5, 6], [7, 8])
    cols.add(NAMES, [2], [12], [1, 2][:1], [3])
    assert list(cols) == [("BTC_USDC", 10, 5, 7), ("ETH_USDC", 11, 6, 8), ("SOL_USDC", 12, 1, 3)]
    assert cols[1] == ("ETH_USDC", 11, 6, 8) and len(cols) == 3


class _Doc:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def add_next_tick_callback(self, fn: Any) -> None:
        self.calls.append(fn)


class _Session:
    def __init__(self) -> None:
        self.doc = _Doc()
        self.account: str | None = None  # not logged in yet
        self.pushes: list[Any] = []

    def apply(self, push: Any) -> None:
        self.pushes.append(push)


def test_a_page_that_logs_in_after_it_opened_gets_its_account_and_events() -> None:
    """A page registers when it opens and gets its account when its user logs in (the
    live page's "Open long" then never showed its position): from then on the producer
    pushes that account's events and figures, never another account's."""
    reads: list[list[str]] = []

    async def read_accounts(accounts: list[str]) -> dict[str, Any]:
        reads.append(accounts)
        return {a: ({"balance": "5000"}, []) for a in accounts}

    async def run() -> _Session:
        prod = Producer(read_accounts, lambda: {"state": "LIVE"})
        prod.loop = asyncio.get_running_loop()
        page = _Session()
        prod.register(page)
        page.account = "a"  # the user logged in on the page
        events = [{"type": "opened", "account": "a", "ref": "x"},
                  {"type": "opened", "account": "b", "ref": "y"}]  # fmt: skip
        commit = threading.Thread(target=prod.collect, args=(events, QuoteColumns()))
        commit.start()  # the commit thread hands the durable batch on
        commit.join()
        await prod.flush()
        return page

    page = asyncio.run(run())
    assert reads == [["a"]]
    page.doc.calls[0]()
    push = page.pushes[0]
    assert [e["ref"] for e in push.events] == ["x"]
    assert push.account == ({"balance": "5000"}, [])
