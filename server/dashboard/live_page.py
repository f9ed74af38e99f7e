"""The live trading page: chart with price lines, order ticket, watchlist, account and
its tools, positions, pending orders, history, notifications.

One `LivePage` per browser session. It registers with the producer when created and
unregisters when Bokeh destroys the session; everything it shows arrives in the
producer's pushes or comes back from its own commands. It never polls the engine.
"""

from __future__ import annotations

import asyncio
import html
import logging
from decimal import Decimal
from functools import partial
from typing import Any

import panel as pn

from workbench.live.desk import Desk

from ..orders import closed_order
from .broker import Broker
from .chart import PriceChart
from .chart_past import ChartPast
from .context import Dashboards
from .login import LOGOUT_JS, LoginCard
from .messages import order_what
from .notices import NoticeBoard
from .numbers import HTML, colored, price_units
from .producer import FRAMES, SCALE, Push
from .text import Text
from .trader import DeskTrader
from .trading import RIGHT, TradingPanel
from .view import CSS, account_html, history_frame, html_pane
from .watchlist import Watchlist

log = logging.getLogger(__name__)

#: Events after which the pending orders are read again (the table and the lines); an
#: `opened` only when it is a pending order's fill.
ORDER_EVENTS = frozenset({"order_placed", "order_cancelled", "modified", "opened", "reset"})


def tick_sizes(desk: Desk) -> dict[str, Decimal]:
    """symbol -> tick size, from the engine's instruments (immutable once declared)."""
    engine = desk.sequencer.engine
    out = {}
    for sym in desk.sequencer.symbols:
        try:
            out[sym] = engine.instrument(sym).tick_size
        except Exception:  # declared a moment ago: the page pads it once it knows
            continue
    return out


class LivePage:
    """The widgets of one session and how a push updates them."""

    def __init__(self, dash: Dashboards) -> None:
        self.dash = dash
        self.doc = pn.state.curdoc
        self.notifications = pn.state.notifications  # this session's (callbacks lack curdoc)
        self.account: str | None = None
        self.user_name = ""
        self.prices: dict[str, tuple[str, str]] = {}
        self.positions: list[dict[str, Any]] = []
        self._shown: tuple[Any, ...] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ticks = tick_sizes(dash.state.desk)
        symbols = list(dash.state.desk.sequencer.symbols) or ["BTC_USDC"]
        self.symbol = pn.widgets.Select(name="Instrument", options=symbols, value=symbols[0],
                                        width=150)  # fmt: skip
        self.frame = pn.widgets.RadioButtonGroup(options=list(FRAMES), value="1s", width=90)
        self.quote_box = Text("quote_box", css_classes=["quote-box"])  # set every quote
        self.feed = html_pane(self._feed_html(dash.state.feed_status()), name="feed")
        self.chart = PriceChart(height=470)
        self.past = ChartPast(dash, self.chart, self.doc)  # stored candles, marks (M3)
        trader = DeskTrader(dash.state.desk)
        self.trading = TradingPanel(trader, lambda: self.account, lambda: self.symbol.value,
                                    self.chart, later=self._later)  # fmt: skip
        self.trading.ticks = self.ticks
        self.ticket = self.trading.ticket
        self.ticket.feed(dash.state.feed_status())
        self.known = self.trading.known
        self.account_strip = Text("account", sizing_mode="stretch_width")
        self.history = pn.widgets.Tabulator(
            history_frame([]), name="history", css_classes=["history-table"],
            show_index=False, disabled=True,
            sizing_mode="stretch_width", height=190, theme="fast", text_align=RIGHT,
            selectable=False, formatters={"pnl": HTML},
        )  # fmt: skip
        self.notices = NoticeBoard(dash.state.desk, self.doc, self.notifications, self.known,
                                   lambda: self.account, self._spawn)  # fmt: skip
        self.broker = Broker(dash.state.desk, trader, lambda: self.account,
                             lambda: self.positions, self.trading.known)  # fmt: skip
        self.watchlist = Watchlist(symbols, lambda: self.ticks, self._reference, self._pick,
                                   self._later, lambda: dash.producer.fast)  # fmt: skip
        self.who = html_pane("", name="who")
        self.logout = pn.widgets.Button(name="Log out", button_type="light", width=80,
                                        visible=False)  # fmt: skip
        self.logout.on_click(self._logout)
        self.logout.js_on_click(code=LOGOUT_JS)  # the cookie too, then a fresh page
        for sym, (_s, _t, bid, ask) in dash.producer.last.items():
            self.prices[sym] = self._texts(sym, bid, ask)
        self.watchlist.show(dash.producer.last, force=True)
        self.symbol.param.watch(self._reseed, "value")
        self.frame.param.watch(self._reseed, "value")
        self._reseed()
        self.login = LoginCard(dash, self._logged_in, on_ended=self._logout)
        self.layout = self._trading_layout()
        self.main = pn.Column(sizing_mode="stretch_width")
        self._show_login_or_trading()

    # ------------------------------------------------------------- layout
    def _trading_layout(self) -> pn.Column:
        chart_head = pn.Row(self.symbol, pn.Column(pn.Spacer(height=18), self.frame),
                            pn.Spacer(width=16), self.quote_box.panel, pn.HSpacer(),
                            self.trading.fit)  # fmt: skip
        self.tabs = tabs = pn.Tabs(
            ("Open positions", self.trading.positions_table),
            ("Pending orders", self.trading.orders_table), ("Order history", self.history),
            ("Notifications", self.notices.panel), dynamic=True, sizing_mode="stretch_width",
        )  # fmt: skip
        self.notices.bind(tabs, 3)
        ticket_card = pn.Column(
            html_pane("<b>Order ticket</b>"), self.ticket.panel, width=300,
            styles={"background": "#1e222d", "border-radius": "6px", "padding": "6px 10px"},
        )  # fmt: skip
        return pn.Column(
            self.account_strip.panel,
            self.broker.panel,
            pn.Row(
                pn.Column(chart_head, self.chart.panel, sizing_mode="stretch_width"),
                pn.Column(ticket_card, html_pane("<b>Watchlist</b>"), self.watchlist.table),
                sizing_mode="stretch_width",
            ),  # fmt: skip
            tabs,
            self.trading.editor.panel,
            sizing_mode="stretch_width",
        )

    def _show_login_or_trading(self) -> None:
        if self.account is None:
            self.main.objects = [pn.Row(pn.HSpacer(), self.login.panel, pn.HSpacer())]
        else:
            self.main.objects = [self.layout]

    def view(self) -> pn.template.BaseTemplate:
        tpl = pn.template.FastListTemplate(
            title="workbench · paper trading", theme="dark", accent="#2962ff",
            header_background="#1e222d",
            header=[pn.Row(self.feed, self.who, self.logout, self.login.handoff, align="center")],
            main=[self.main], main_layout=None, raw_css=[CSS], collapsed_sidebar=True,
            notifications=self.notifications,
        )  # fmt: skip
        return tpl

    # --------------------------------------------------------------- login
    def login_from_request(self) -> None:
        """At page build: the local user, or the API token the browser holds (cookie)."""
        if self.dash.local_account is not None:
            self._enter(self.dash.local_account, "local")
            return
        found = self.login.from_request()
        if found is not None:
            self._enter(*found)

    async def load_account(self) -> None:
        """Once the page is up: the figures and history of the logged-in account."""
        account = self.account
        if account is None:
            return
        desk = self.dash.state.desk
        # instruments declared since the page was built (the dict is shared, updated whole)
        self.ticks.update(await desk.read(lambda e: {s: e.instrument(s).tick_size
                                                     for s in e.symbols}))  # fmt: skip
        figures, positions = await desk.summary(account)
        orders = await desk.pending(account)
        # after an await the document is not locked: the chart changes on its next tick
        self.doc.add_next_tick_callback(partial(self._show_account, figures, positions))
        self.doc.add_next_tick_callback(partial(self.trading.show_orders, orders))
        await self._load_history()
        await self.notices.load(account)

    async def _logged_in(self, account: str, name: str) -> None:
        self._enter(account, name)
        await self.load_account()

    def _enter(self, account: str, name: str) -> None:
        self.account = account
        self.notices.clear()
        self.user_name = name
        self.who.object = f'<span class="who">{html.escape(name)}</span>'
        self.logout.visible = self.dash.local_account is None
        self._show_login_or_trading()
        self.ticket.refresh()
        self.past.marks(account, self.symbol.value)

    def _logout(self, _: object = None) -> None:
        self.login.end()
        self.account = None
        self.who.object = ""
        self.logout.visible = False
        self.positions = []
        self._shown = None
        self.notices.clear()
        self.trading.clear()
        self._show_login_or_trading()

    # ------------------------------------------------------------ updates
    def apply(self, push: Push) -> None:
        """Run by Bokeh with the document locked (scheduled by the producer)."""
        sym = self.symbol.value
        for s, (_, _t, bid, ask) in push.quotes.items():
            self.prices[s] = self._texts(s, bid, ask)
        if push.quotes:
            self.watchlist.show(self.dash.producer.last)
        q = push.quotes.get(sym)
        if q is not None:
            _, t, bid, ask = q
            self.chart.quote(t / 1000, bid * SCALE, ask * SCALE)
            self._show_quote(sym)
            self.ticket.quote_moved()
        tail = push.candles.get((sym, self.frame.value))
        if tail is not None:
            self.chart.candle(tail)
        if push.feed.get("state") and push.feed != getattr(self, "_feed", None):
            self._feed = push.feed
            self.feed.object = self._feed_html(push.feed)
            self.ticket.feed(push.feed)
            self.past.feed(push.feed)
        if self.account is None:
            return
        for ev in push.events:
            self._on_event(ev)
        if push.account is not None:
            self._show_account(*push.account)

    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "opened":
            self.known[ev["ref"]] = (ev["symbol"], ev["side"])
        elif ev["type"] == "order_placed":
            self.known[ev["ref"]] = (ev["symbol"], order_what(ev))
        self.notices.event(ev)
        if ev["type"] in ("deposit", "reset", "opened", "closed", "reduced"):
            self.ticket.refresh(settle=0)  # its free margin after changed
        self.trading.mark(ev)
        if ev["type"] in ("closed", "reset"):
            self._spawn(self._load_history())
        if ev["type"] in ORDER_EVENTS and (ev["type"] != "opened" or ev.get("order")):
            self._spawn(self._load_orders())

    def _show_account(self, figures: dict[str, Any], positions: list[dict[str, Any]]) -> None:
        self.positions = positions
        for p in positions:
            self.known[p["ref"]] = (p["symbol"], p["side"])
        key = (tuple(sorted(figures.items(), key=lambda kv: kv[0])),
               tuple(tuple(p.values()) for p in positions),
               tuple(self.prices.get(p["symbol"]) for p in positions))  # fmt: skip
        if key == self._shown:
            return
        self._shown = key
        self.account_strip.object = account_html(figures, positions)
        self.trading.show_positions(positions, self.prices)

    def _texts(self, sym: str, bid: int, ask: int) -> tuple[str, str]:
        tick = self.ticks.get(sym)
        return price_units(bid, tick), price_units(ask, tick)

    def _reference(self, sym: str) -> float | None:
        """The watchlist's reference price: the oldest 1 m candle's open kept."""
        opens = self.dash.producer.history(sym, "1m")["open"]
        return opens[0] if opens else None

    def _later(self, fn: Any, seconds: float) -> None:
        self.doc.add_timeout_callback(fn, max(1, int(seconds * 1000)))

    def _pick(self, sym: str) -> None:
        if sym in self.symbol.options:
            self.symbol.value = sym

    def _show_quote(self, sym: str) -> None:
        bid, ask = self.prices[sym]
        self.quote_box.object = (
            f'<div class="quote-box"><span class="num bid" data-bid="{bid}">{bid}</span> / '
            f'<span class="num ask" data-ask="{ask}">{ask}</span></div>'
        )

    @staticmethod
    def _feed_html(status: dict[str, Any]) -> str:
        state = html.escape(str(status.get("state", "STARTING")))
        msg = html.escape(str(status.get("message", "")))
        return (
            f'<span class="feed-badge feed-{state}" title="{msg}" data-state="{state}">'
            f"{state}</span>"
        )

    def _reseed(self, *_: object) -> None:
        """A new symbol or frame: the candles the producer kept so far."""
        frame = self.frame.value
        self.chart.reset(self.dash.producer.history(self.symbol.value, frame), FRAMES[frame])
        self.chart.clear_marks()
        self.past.load(self.symbol.value, frame, FRAMES[frame], self.account)
        self.trading.redraw()
        if self.symbol.value in self.prices:
            self._show_quote(self.symbol.value)
        else:
            self.quote_box.object = '<span class="num">no quote yet</span>'

    # ------------------------------------------------------------ commands
    async def _load_history(self) -> None:
        account = self.account
        if account is None:
            return
        rows = await self.dash.state.desk.closed_orders(account)
        frame = history_frame([closed_order(account, *r) for r in rows[:200]], self.ticks)
        frame["pnl"] = frame["pnl"].map(colored)
        self.history.value = frame

    async def _load_orders(self) -> None:
        account = self.account
        if account is None:
            return
        orders = await self.dash.state.desk.pending(account)
        if account == self.account:
            self.doc.add_next_tick_callback(partial(self.trading.show_orders, orders))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def live_app(dash: Dashboards) -> pn.template.BaseTemplate:
    """Build one session's live page and register it with the producer."""
    page = LivePage(dash)
    dash.producer.register(page)
    pn.state.on_session_destroyed(lambda _ctx: dash.producer.unregister(page))
    page.login_from_request()
    pn.state.onload(page.load_account)
    return page.view()
