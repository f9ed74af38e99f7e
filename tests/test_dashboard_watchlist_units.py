"""The watchlist's cells, and how often it redraws: every second, every five while quotes
come faster than anyone reads them (a full-speed replay)."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from server.dashboard.watchlist import Watchlist

SYMBOLS = ["BTC_USDC", "ETH_USDC"]
TICKS = {"BTC_USDC": Decimal("0.1"), "ETH_USDC": Decimal("0.01")}


def _watchlist(fast: list[bool]) -> tuple[Watchlist, list[float]]:
    scheduled: list[float] = []

    def later(fn: Callable[[], None], seconds: float) -> None:
        scheduled.append(seconds)

    w = Watchlist(SYMBOLS, lambda: TICKS, lambda s: 100.0, lambda s: None, later,
                  lambda: fast[0])  # fmt: skip
    return w, scheduled


def _q(sym: str, bid: int, ask: int) -> tuple[str, int, int, int]:
    return (sym, 0, bid * 10**8, ask * 10**8)


def test_cells_show_tick_decimals_and_the_change_and_untouched_rows_stay() -> None:
    w, _ = _watchlist([False])
    w.show({"BTC_USDC": _q("BTC_USDC", 101, 102)}, force=True)
    rows = w.table.value.to_dict("records")
    assert rows[0]["symbol"] == "BTC_USDC" and rows[0]["bid"] == "101.0"
    assert rows[0]["ask"] == "102.0" and "+1.50 %" in rows[0]["change"]
    assert rows[1] == {"symbol": "ETH_USDC", "bid": "—", "ask": "—", "change": "—"}
    w.show({"BTC_USDC": _q("BTC_USDC", 101, 102), "ETH_USDC": _q("ETH_USDC", 99, 100)},
           force=True)  # fmt: skip
    rows = w.table.value.to_dict("records")
    assert rows[0]["bid"] == "101.0" and rows[1]["bid"] == "99.00"
    assert "-0.50 %" in rows[1]["change"]


def test_redraws_wait_one_second_or_five_while_the_feed_is_fast() -> None:
    fast = [False]
    w, scheduled = _watchlist(fast)
    w.show({"BTC_USDC": _q("BTC_USDC", 101, 102)}, force=True)
    w.show({"BTC_USDC": _q("BTC_USDC", 103, 104)})  # too soon: held back
    assert w.table.value.iloc[0]["bid"] == "101.0"
    assert len(scheduled) == 1 and 0.9 < scheduled[0] <= 1.0
    w._due()  # the time came: shown
    assert w.table.value.iloc[0]["bid"] == "103.0"
    fast[0] = True
    w.show({"BTC_USDC": _q("BTC_USDC", 105, 106)})
    assert w.table.value.iloc[0]["bid"] == "103.0"
    assert len(scheduled) == 2 and 4.9 < scheduled[1] <= 5.0
    w._at = time.monotonic() - 5.0  # five seconds later
    w.show({"BTC_USDC": _q("BTC_USDC", 107, 108)})
    assert w.table.value.iloc[0]["bid"] == "107.0"
