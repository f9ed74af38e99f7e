"""What both pages trade with: the ticket, the open-positions and pending-orders tables
(Close, Cancel, Edit), the edit form, and the price lines on the page's chart.

A page hands it the engine's views as they change (`show_positions`, `show_orders`);
the tables, the form and the lines follow. Commands go through the page's `Trader`;
their answers are the engine's own (see messages.answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import panel as pn

from .chart import PriceChart
from .editor import Editor
from .lines import price_lines
from .messages import Known, answer, order_what
from .numbers import HTML, colored
from .ticket import OrderTicket
from .trader import Trader
from .view import orders_frame, positions_frame

RIGHT = {c: "right" for c in ("qty", "open", "last", "upnl", "margin", "leverage", "tp", "sl",
                              "liq", "close", "pnl", "price", "size", "trailing")}  # fmt: skip
EDIT = '<button class="edit-btn">Edit</button>'
LIVE = ["last", "upnl"]  # the columns that move with every quote
Later = Callable[[Callable[[], None], float], None]  # run a callback after some seconds


def _table(frame: pd.DataFrame, name: str, buttons: dict[str, str], height: int,
           colored: str | None = None) -> Any:  # fmt: skip
    """A table of text columns; `colored` is a money column coloured by its sign (its
    cells are HTML: see numbers.colored)."""
    return pn.widgets.Tabulator(
        frame, name=name, css_classes=[f"{name}-table"], show_index=False, disabled=True,
        buttons=buttons, hidden_columns=["ref"], sizing_mode="stretch_width", height=height,
        theme="fast", text_align=RIGHT, selectable=False,
        configuration={"columnDefaults": {"headerSort": False}},
        stylesheets=[":host .tabulator {font-size: 13px;}"],
        formatters={colored: HTML} if colored else {},
    )  # fmt: skip


class TradingPanel:
    """Ticket, tables, edit form and price lines of one page (one account, one chart)."""

    def __init__(
        self, trader: Trader, account: Callable[[], str | None], symbol: Callable[[], str],
        chart: PriceChart, *, height: int = 190, later: Later | None = None,
        live_every: float = 1.0,
    ) -> None:  # fmt: skip
        """With `later`, a change of the live columns alone (last price, uPnL) redraws the
        positions table at most every `live_every` seconds: every redraw replaces the
        table's rows, and a click whose mousedown and mouseup straddle one is lost (at a
        redraw every 250 ms, a good share of a person's clicks on Close)."""
        self.trader = trader
        self.later = later
        self.live_every = live_every
        self._drawn_at = 0.0
        self._held: pd.DataFrame | None = None  # live figures waiting for their turn
        self.account = account
        self.symbol = symbol
        self.chart = chart
        self.known: Known = {}  # ref -> (symbol, side or order): see messages
        self.positions: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.quotes: dict[str, Any] = {}
        self.ticks: dict[str, Decimal] = {}  # symbol -> tick size, once the page knows
        self.ticket = OrderTicket(trader, symbol, account)
        self.editor = Editor(trader, account, self.known)
        self.positions_table = _table(positions_frame([], {}), "positions",
                                      {"edit": EDIT, "close": '<button>Close</button>'},
                                      height, colored="upnl")  # fmt: skip
        self.orders_table = _table(orders_frame([]), "orders",
                                   {"edit": EDIT, "cancel": "<button>Cancel</button>"},
                                   height)  # fmt: skip
        self.positions_table.on_click(self._position_clicked)
        self.orders_table.on_click(self._order_clicked)
        # the price axis scaled to every line (liquidation included), or to the prices only
        self.fit = pn.widgets.Toggle(name="Fit all lines", button_type="primary",
                                     button_style="outline", width=110,
                                     margin=(22, 5, 0, 5))  # fmt: skip
        self.fit.param.watch(lambda e: chart.fit_levels(bool(e.new)), "value")

    # ------------------------------------------------------------- showing
    def show_positions(self, positions: list[dict[str, Any]], quotes: dict[str, Any]) -> None:
        """The open positions (engine views) and the last quotes (symbol -> bid, ask)."""
        self.positions, self.quotes = positions, quotes
        for p in positions:
            self.known[p["ref"]] = (p["symbol"], p["side"])
        frame = positions_frame(positions, quotes, self.ticks)
        frame["upnl"] = frame["upnl"].map(colored)
        self._draw_positions(frame)
        self._follow()

    def _draw_positions(self, frame: pd.DataFrame) -> None:
        shown = self.positions_table.value
        if frame.equals(shown):
            self._held = None
            return
        now = time.monotonic()
        live_only = list(frame["ref"]) == list(shown["ref"]) and frame.drop(
            columns=LIVE).equals(shown.drop(columns=LIVE))  # fmt: skip
        if self.later is not None and live_only and now - self._drawn_at < self.live_every:
            if self._held is None:
                self.later(self._draw_held, self.live_every - (now - self._drawn_at))
            self._held = frame
            return
        self._held = None
        self._drawn_at = now
        self.positions_table.value = frame

    def _draw_held(self) -> None:
        frame, self._held = self._held, None
        if frame is not None and not frame.equals(self.positions_table.value):
            self._drawn_at = time.monotonic()
            self.positions_table.value = frame

    def show_orders(self, orders: list[dict[str, Any]]) -> None:
        """The pending orders (engine views), in placement order."""
        self.orders = orders
        for o in orders:
            self.known[o["ref"]] = (o["symbol"], order_what(o))
        frame = orders_frame(orders)
        if not frame.equals(self.orders_table.value):
            self.orders_table.value = frame
        self._follow()

    def redraw(self) -> None:
        """The lines again (the page's chart changed symbol)."""
        self._follow()

    def _follow(self) -> None:
        self.chart.show_lines(price_lines(self.positions, self.orders, self.symbol()))
        self.editor.update(self.positions, self.orders)

    def mark(self, ev: dict[str, Any]) -> None:
        """Mark a fill of the chart's symbol: an entry, an exit (whole or part) or a
        liquidation or stop-out."""
        kind = ev["type"]
        symbol = self.known.get(ev.get("ref", ""), ("", ""))[0]
        if kind not in ("opened", "closed", "reduced") or symbol != self.symbol():
            return
        t, price = ev["t"] / 1000, float(ev["price"])
        if kind == "opened":
            self.chart.mark(t, price, ev["side"], f"{ev['side']} {ev['qty']} at {ev['price']}")
        elif kind == "reduced":
            self.chart.mark(t, price, "exit", f"closed {ev['qty']} at {ev['price']}: pnl "
                            f"{ev['pnl']}, {ev['remaining_qty']} left")  # fmt: skip
        else:
            what = "liquidation" if ev["reason"] in ("liquidation", "stop_out") else "exit"
            self.chart.mark(t, price, what, f"{ev['reason']} at {ev['price']}: pnl {ev['pnl']}")

    def clear(self) -> None:
        self.show_positions([], {})
        self.show_orders([])
        self.editor.hide()

    # ------------------------------------------------------------ commands
    async def _position_clicked(self, event: Any) -> None:
        account = self.account()
        ref = self._ref(self.positions_table, event)
        if account is None or ref is None:
            return
        if event.column == "edit":
            view = next((p for p in self.positions if p["ref"] == ref), None)
            if view is not None:
                self.editor.edit_position(view)
        elif event.column == "close":
            self.ticket.say(*answer(await self.trader.close(account, ref), self.known))

    async def _order_clicked(self, event: Any) -> None:
        account = self.account()
        ref = self._ref(self.orders_table, event)
        if account is None or ref is None:
            return
        if event.column == "edit":
            view = next((o for o in self.orders if o["ref"] == ref), None)
            if view is not None:
                self.editor.edit_order(view)
        elif event.column == "cancel":
            self.ticket.say(*answer(await self.trader.cancel(account, ref), self.known))

    @staticmethod
    def _ref(table: Any, event: Any) -> str | None:
        frame = table.value
        if event.row is None or not 0 <= event.row < len(frame):
            return None
        return str(frame.iloc[event.row]["ref"])
