"""The watchlist: every instrument with its bid, ask and change, one click from the chart.

The change is the mid price against a reference taken when the page first shows the
symbol: the open of the oldest 1 m candle the producer keeps for it (up to ten hours),
or else that first quote. Prices have their
instrument's tick decimals. Redrawn at most every `every` seconds (a table update
costs the event loop a few milliseconds per page), every `fast_every` seconds while
quotes come faster than anyone reads them (a full-speed replay: ten pages redrawing
theirs every second were two thirds of the event loop's share of the GIL), the quotes
held back meanwhile shown when the time is up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import panel as pn
import param

from .numbers import HTML, Ticks, colored, price_units

COLUMNS = ["symbol", "bid", "ask", "change"]
Quote = tuple[Any, int, int, int]  # (symbol, t, bid, ask) as the producer keeps it


def change_text(mid: Decimal, ref: Decimal | None) -> str:
    """The change in percent, signed, two decimals ("+0.52 %", "0.00 %"); "—" unknown."""
    if ref is None or ref <= 0:
        return "—"
    pct = ((mid - ref) * 100 / ref).quantize(Decimal("0.01"), ROUND_HALF_UP)
    if pct == 0:
        return "0.00 %"
    return f"{pct:+.2f} %"


class Watchlist:
    """A table of every instrument; a click on a row calls `pick(symbol)`."""

    def __init__(self, symbols: list[str], ticks: Callable[[], Ticks],
                 reference: Callable[[str], float | None], pick: Callable[[str], None],
                 later: Callable[[Callable[[], None], float], None],
                 fast: Callable[[], bool] = lambda: False,
                 every: float = 1.0, fast_every: float = 5.0) -> None:  # fmt: skip
        self.symbols = symbols
        self.ticks = ticks
        self.reference = reference  # the symbol's oldest kept mid (float: plotted candles)
        self.base: dict[str, Decimal] = {}  # the reference, or the first mid this page saw
        self.every = every
        self.fast = fast  # quotes come faster than anyone reads them
        self.fast_every = fast_every
        self.later = later  # runs a callback on the page after some seconds
        self._at = 0.0
        self._last: dict[str, Quote] = {}
        self._waiting = False  # a redraw is scheduled for the quotes held back
        self._rows: dict[str, tuple[str, str, str]] = {}
        self.table = pn.widgets.Tabulator(
            pd.DataFrame({"symbol": symbols, "bid": "—", "ask": "—", "change": "—"},
                         columns=COLUMNS),
            name="watchlist", css_classes=["watchlist-table"], show_index=False,
            disabled=True, selectable=False, theme="fast", width=300, height=150,
            text_align={"bid": "right", "ask": "right", "change": "right"},
            formatters={"change": HTML},
            configuration={"columnDefaults": {"headerSort": False}},
            stylesheets=[":host .tabulator {font-size: 13px;} "
                         ":host .tabulator-row {cursor: pointer;}"],
        )  # fmt: skip
        self.table.on_click(lambda e: self._clicked(e, pick))

    def _clicked(self, event: Any, pick: Callable[[str], None]) -> None:
        if event.row is not None and 0 <= event.row < len(self.symbols):
            pick(self.symbols[event.row])

    def _due(self) -> None:
        self._waiting = False
        self.show(self._last, force=True)

    def show(self, last: dict[str, Quote], force: bool = False) -> None:
        """The producer's last quotes: the cells that changed (at most every `every` s)."""
        now = time.monotonic()
        self._last = last
        every = self.fast_every if self.fast() else self.every
        if not force and now - self._at < every:
            if not self._waiting:  # the last quotes are shown when the time comes
                self._waiting = True
                self.later(self._due, every - (now - self._at))
            return
        self._at = now
        ticks = self.ticks()
        changes: dict[str, list[tuple[int, str]]] = {c: [] for c in COLUMNS[1:]}
        for i, sym in enumerate(self.symbols):
            q = last.get(sym)
            if q is None:
                continue
            _, _t, bid, ask = q
            tick = ticks.get(sym)
            mid = Decimal(bid + ask) / 2 / 10**8
            base = self.base.get(sym)
            if base is None:
                ref = self.reference(sym)
                base = self.base[sym] = Decimal(repr(ref)) if ref else mid
            row = (price_units(bid, tick), price_units(ask, tick),
                   colored(change_text(mid, base)))  # fmt: skip
            old = self._rows.get(sym)
            if old != row:
                self._rows[sym] = row
                for k, col in enumerate(COLUMNS[1:]):
                    if old is None or old[k] != row[k]:
                        changes[col].append((i, row[k]))
        if any(changes.values()):
            self._write({c: v for c, v in changes.items() if v})

    def _write(self, changes: dict[str, list[tuple[int, str]]]) -> None:
        """The changed cells, patched into each drawn table's data source: a new table
        value cost Panel ~20 ms a page (pandas to a new data source, sent whole), and ten
        pages paid it every second. The value is kept current without its watchers, so
        a table drawn again later starts from it."""
        none = ("—", "—", "—")
        frame = pd.DataFrame(
            [(sym, *self._rows.get(sym, none)) for sym in self.symbols], columns=COLUMNS
        )
        drawn = [model.source for model, _ in self.table._models.values()]
        if not drawn:
            self.table.value = frame
            return
        with param.parameterized.discard_events(self.table):
            self.table.value = frame
        for source in drawn:
            source.patch(changes)
