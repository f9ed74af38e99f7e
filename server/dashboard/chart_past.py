"""A live chart's past, brought to it: stored candles and the account's trade marks.

`ChartPast.load` (a new symbol or frame) reads the candles of the tick store before the
producer's first one and the logged-in account's marks, each in a thread (never on the
event loop), and shows them on the document's next tick: the candles before the ones
shown, the marks beside those pushes brought meanwhile. A later load supersedes one
still reading. The chart is labelled SIMULATED while the feed is, or when the stored
candles are simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from .chart_history import Candles, Mark, account_marks, empty, stored_candles

if TYPE_CHECKING:
    from .chart import PriceChart
    from .context import Dashboards

log = logging.getLogger(__name__)

KEEP = 600  # candles read (the chart keeps as many)
WAIT_S = 5.0  # at most this long for the history to store what the engine acknowledged


class ChartPast:
    """Fills one page's `chart` with its past (see the module docstring)."""

    def __init__(self, dash: Dashboards, chart: PriceChart, doc: Any) -> None:
        self.dash, self.chart, self.doc = dash, chart, doc
        self._gen = 0
        self._marks_gen = 0
        self._stored_simulated = False
        self._feed_simulated = dash.state.feed_status().get("state") == "SIMULATED"
        chart.simulated(self._feed_simulated)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loads = 0  # loads shown (for tests)

    # ------------------------------------------------------------ commands
    def load(self, symbol: str, frame: str, seconds: int, account: str | None) -> None:
        """The past of `symbol` in `frame` (and `account`'s marks on it), read now."""
        self._gen += 1
        self._spawn(self._load(self._gen, symbol, frame, seconds))
        self.marks(account, symbol)

    def marks(self, account: str | None, symbol: str) -> None:
        """`account`'s marks on `symbol` in place of those shown (none: no account)."""
        self._marks_gen += 1
        self._later(self.chart.clear_marks)
        if account is not None:
            self._spawn(self._load_marks(self._marks_gen, account, symbol))

    def feed(self, status: dict[str, Any]) -> None:
        """The feed's state changed (run with the document locked)."""
        self._feed_simulated = status.get("state") == "SIMULATED"
        self.chart.simulated(self._feed_simulated or self._stored_simulated)

    # ------------------------------------------------------------- reading
    async def _load(self, gen: int, symbol: str, frame: str, seconds: int) -> None:
        state = self.dash.state
        con = state.tick_db
        if con is None:
            return
        live = self.dash.producer.history(symbol, frame)["t"]
        end = min(live[0] * 1000 if live else 1 << 62, state.clock())
        try:
            past, simulated = await asyncio.to_thread(
                stored_candles, con, symbol, seconds, end, KEEP
            )
        except Exception:  # a store without quotes (or foreign): the chart goes on without
            log.exception("the stored candles of %s %s could not be read", symbol, frame)
            past, simulated = empty(), False
        if gen == self._gen:
            self._later(self._show, gen, past, simulated)

    def _show(self, gen: int, past: Candles, simulated: bool) -> None:
        if gen != self._gen:
            return
        self.chart.prepend(past)
        self._stored_simulated = simulated
        self.chart.simulated(self._feed_simulated or simulated)
        self.loads += 1

    async def _load_marks(self, gen: int, account: str, symbol: str) -> None:
        state = self.dash.state
        upto = state.desk.sequencer.durable_index
        history = state.live.history

        def read() -> list[Mark]:
            history.wait(upto, WAIT_S)
            return account_marks(history, account, symbol)

        try:
            marks = await asyncio.to_thread(read)
        except Exception:
            log.exception("the marks of %s on %s could not be read", account, symbol)
            return
        if gen == self._marks_gen:
            self._later(self._show_marks, gen, marks)

    def _show_marks(self, gen: int, marks: list[Mark]) -> None:
        if gen == self._marks_gen:
            self.chart.add_marks(marks)

    # ------------------------------------------------------------- helpers
    def _later(self, fn: Any, *args: Any) -> None:
        """`fn(*args)` on the document's next tick (locked), unless the document is gone."""
        with contextlib.suppress(Exception):
            self.doc.add_next_tick_callback(partial(fn, *args))

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no event loop (a page built outside the server)
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
