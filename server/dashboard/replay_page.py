"""The replay page: recorded markets played into a private engine, traded by hand or by a
strategy, with the equity curve and the fills and liquidations marked on the chart.

Each session owns a `Player` (its own Engine: the one engine class, not the server's
engine, so a replay never touches live accounts). A periodic callback of the session
advances it by the wall time passed times the speed.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import panel as pn

from workbench.backtest.examples import Bracket
from workbench.backtest.strategy import Strategy

from .chart import PriceChart
from .context import Dashboards
from .equity import EquityChart
from .messages import notice, order_what
from .player import (
    ACCOUNT,
    Player,
    Tape,
    store_ranges,
    store_tape,
    synthetic_tape,
)
from .producer import SCALE, Candles
from .trader import ReplayTrader
from .trading import TradingPanel
from .view import CSS, account_html, html_pane

SPEEDS = {"1×": 1.0, "10×": 10.0, "60×": 60.0, "600×": 600.0, "3600×": 3600.0, "max": 0.0}
STRATEGIES: dict[str, Callable[[], Strategy] | None] = {
    "none (trade by hand)": None,
    "bracket ±0.3 %, re-entered": lambda: Bracket(band="0.003"),
    "bracket ±0.1 %, re-entered": lambda: Bracket(band="0.001"),
}
SIMULATED = "SIMULATED BTC_USDC (seeded random walk)"
FRAMES = (1, 5, 15, 60, 300, 900, 3600)
TICK_MS = 100


def _dt(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / 1e6, tz=UTC).replace(tzinfo=None)


def _us(d: datetime) -> int:
    return int(d.replace(tzinfo=UTC).timestamp() * 1e6)


class ReplayPage:
    """Controls, chart, equity and account of one replay session."""

    def __init__(self, dash: Dashboards) -> None:
        self.dash = dash
        self.doc = pn.state.curdoc
        self.player: Player | None = None
        self.ranges: dict[str, tuple[int, int, int]] = {}
        self.candles: Candles | None = None
        self.events: list[dict[str, Any]] = []
        self.alerts: list[tuple[str, str]] = []
        self._wall = time.monotonic()
        self.source = pn.widgets.MultiChoice(name="Recorded symbols", options=[], width=260)
        self.range = pn.widgets.DatetimeRangePicker(name="Time range (UTC)", width=330,
                                                    enable_seconds=True)  # fmt: skip
        self.speed = pn.widgets.Select(name="Speed", options=list(SPEEDS), value="60×", width=90)
        self.strategy = pn.widgets.Select(name="Strategy", options=list(STRATEGIES), width=220)
        self.mode = pn.widgets.Select(name="Margin", options=["isolated", "cross"], width=100)
        self.load = pn.widgets.Button(name="Load", button_type="primary", width=80, margin=(22, 5))
        self.play = pn.widgets.Toggle(name="Play", button_type="success", width=90,
                                      margin=(22, 5), disabled=True)  # fmt: skip
        self.seek = pn.widgets.FloatSlider(name="Position", start=0, end=1, step=0.001, value=0,
                                           sizing_mode="stretch_width", disabled=True)  # fmt: skip
        self.status = html_pane("", name="replay_status", sizing_mode="stretch_width")
        self.chart = PriceChart(height=330, name="replay_chart")
        self.equity = EquityChart()
        self.account_strip = html_pane("", name="account", sizing_mode="stretch_width")
        trader = ReplayTrader(
            lambda: self.player, lambda: self.doc.add_next_tick_callback(self._after_command)
        )
        self.trading = TradingPanel(trader, lambda: ACCOUNT, lambda: self.chart_symbol,
                                    self.chart, height=150)  # fmt: skip
        self.ticket = self.trading.ticket
        self.known = self.trading.known
        self.alerts_pane = html_pane("", name="alerts", sizing_mode="stretch_width")
        self.load.on_click(self._load)
        self.play.param.watch(self._play_changed, "value")
        self.seek.param.watch(self._seeked, "value_throttled")
        self.speed.param.watch(self._speed_changed, "value")
        self.source.param.watch(self._source_changed, "value")
        self._ignore_seek = False
        self.callback: Any = None

    @property
    def chart_symbol(self) -> str:
        return self.player.tape.symbols[0] if self.player else "BTC_USDC"

    def view(self) -> pn.template.BaseTemplate:
        controls = pn.Row(self.source, self.range, self.speed, self.strategy, self.mode,
                          self.load, self.play, pn.HSpacer(), self.trading.fit,
                          sizing_mode="stretch_width")  # fmt: skip
        right = pn.Column(html_pane("<b>Trade by hand</b>"), self.ticket.panel, width=300,
                          styles={"background": "#1e222d", "border-radius": "6px",
                                  "padding": "6px 10px"})  # fmt: skip
        body = pn.Column(
            controls,
            pn.Row(self.seek, self.status, sizing_mode="stretch_width"),
            self.account_strip,
            pn.Row(pn.Column(pn.pane.Bokeh(self.chart.figure), pn.pane.Bokeh(self.equity.figure),
                             sizing_mode="stretch_width"), right, sizing_mode="stretch_width"),
            pn.Tabs(("Open positions", self.trading.positions_table),
                    ("Pending orders", self.trading.orders_table),
                    ("Events", self.alerts_pane), dynamic=False, sizing_mode="stretch_width"),
            self.trading.editor.panel,
            sizing_mode="stretch_width",
        )  # fmt: skip
        badge = html_pane('<span class="feed-badge feed-REPLAY" data-state="REPLAY">REPLAY</span>',
                             name="feed")  # fmt: skip
        return pn.template.FastListTemplate(
            title="workbench · replay", theme="dark", accent="#2962ff",
            header_background="#1e222d", header=[badge],
            main=[body], main_layout=None, raw_css=[CSS], collapsed_sidebar=True,
        )  # fmt: skip

    # ------------------------------------------------------------ loading
    async def start(self) -> None:
        """Find what the tick store holds (or offer simulated quotes)."""
        con = self.dash.state.tick_db
        if con is not None:
            try:
                self.ranges = await asyncio.to_thread(store_ranges, con)
            except Exception:  # an empty or foreign store: offer the simulation
                self.ranges = {}
        options = [s for s in self.ranges] + [SIMULATED]
        self.source.options = options
        self.source.value = [options[0]]
        self._say("Pick symbols and a range, then Load." if self.ranges else
                  "The tick store has no recorded quotes yet: the simulated market is offered "
                  "(record with `workbench record`, or `workbench import` captures).")  # fmt: skip

    def _source_changed(self, event: Any) -> None:
        chosen = [s for s in event.new if s in self.ranges]
        if not chosen:
            return
        lo = min(self.ranges[s][0] for s in chosen)
        hi = max(self.ranges[s][1] for s in chosen)
        self.range.start, self.range.end = _dt(lo), _dt(hi + 1)
        self.range.value = (_dt(lo), _dt(hi + 1))

    async def _load(self, _: object = None) -> None:
        chosen = list(self.source.value)
        if not chosen:
            self._say("Pick at least one symbol.", error=True)
            return
        self.play.value = False
        self.load.disabled = True
        try:
            if SIMULATED in chosen:
                tape = await asyncio.to_thread(synthetic_tape)
            else:
                lo, hi = self.range.value
                con = self.dash.state.tick_db
                tape = await asyncio.to_thread(store_tape, con, chosen, _us(lo), _us(hi))
        finally:
            self.load.disabled = False
        if not len(tape):
            self._say("No quotes in that range.", error=True)
            return
        # after an await the document is not locked: Bokeh models change on its next tick
        self.doc.add_next_tick_callback(partial(self._new_player, tape))

    def _new_player(self, tape: Tape) -> None:
        factory = STRATEGIES[self.strategy.value]
        self.player = Player(
            tape, margin_mode=self.mode.value, speed=SPEEDS[self.speed.value],
            strategy=factory, on_event=self.events.append,
        )  # fmt: skip
        span = int(tape.t[-1] - tape.t[0]) // 1_000_000
        seconds = next((f for f in FRAMES if span / f <= 400), FRAMES[-1])
        self.candles = Candles(seconds)
        self.chart.reset(self.candles.tail(), seconds)
        self.chart.clear_marks()
        self.equity.clear()
        self.trading.editor.hide()
        self.events.clear()
        self.alerts.clear()
        self.alerts_pane.object = ""
        self.play.disabled = self.seek.disabled = False
        self._ignore_seek = True
        self.seek.value = 0
        self._ignore_seek = False
        self._refresh()
        self._say(f"{tape.label}: {len(tape):,} quotes of {', '.join(tape.symbols)} loaded.")

    # ------------------------------------------------------------ playing
    def _play_changed(self, event: Any) -> None:
        self.play.name = "Pause" if event.new else "Play"
        p = self.player
        if p is None:
            return
        if event.new and p.done:
            self.play.value = False
            return
        p.playing = bool(event.new)
        self._wall = time.monotonic()
        if (
            event.new
            and p.strategy is not None
            and not any(r["type"] == "strategy_start" for _, r in p.commands)
        ):
            if p.pos == 0:
                p.advance(0.0)  # the strategy needs a first quote to price its order
            p.start_strategy()
            self._refresh()

    def _speed_changed(self, event: Any) -> None:
        if self.player is not None:
            self.player.speed = SPEEDS[event.new]

    def _seeked(self, event: Any) -> None:
        if self._ignore_seek or self.player is None:
            return
        p = self.player
        before = p.pos
        p.seek(float(event.new))
        if p.pos < before:  # replayed from the start: the chart starts over too
            assert self.candles is not None
            self.candles = Candles(self.candles.seconds)
            self.chart.clear_marks()
            self.equity.clear()
            self._chart_from(0, p.pos, reset=True)
        else:
            self._chart_from(before, p.pos)
        self._refresh()

    def tick(self) -> None:
        """The session's periodic callback: play what is due."""
        now = time.monotonic()
        wall, self._wall = now - self._wall, now
        p = self.player
        if p is None or not p.playing:
            return
        before = p.pos
        p.advance(wall)
        if p.pos != before:
            self._chart_from(before, p.pos)
            self._refresh()
            self._ignore_seek = True
            self.seek.value = p.pos / len(p.tape)
            self._ignore_seek = False
        if p.done:
            self.play.value = False
            self._say(f"End of the tape: {len(p.tape):,} quotes played.")

    def _chart_from(self, a: int, b: int, reset: bool = False) -> None:
        p = self.player
        if p is None or self.candles is None or b <= a:
            return
        tape = p.tape
        sel = slice(a, b)
        k = tape.k[sel]
        mine = k == 0
        t = tape.t[sel][mine]
        mid = (tape.bid[sel][mine] + tape.ask[sel][mine]) * (SCALE / 2)
        self.candles.add_many(t, mid)
        if reset:
            self.chart.reset(self.candles.tail(), self.candles.seconds)
        else:
            self.chart.candle(self.candles.tail(max(2, min(50, len(t)))))
        if len(t):
            self.chart.quote(t[-1] / 1000, float(tape.bid[sel][mine][-1]) * SCALE,
                             float(tape.ask[sel][mine][-1]) * SCALE)  # fmt: skip
        self.equity.add(float(tape.t[b - 1]) / 1000, p.figures())
        self._drain_events()

    def _drain_events(self) -> None:
        for ev in self.events:
            if ev["type"] == "opened":
                self.known[ev["ref"]] = (ev["symbol"], ev["side"])
            elif ev["type"] == "order_placed":
                self.known[ev["ref"]] = (ev["symbol"], order_what(ev))
            what = notice(ev, self.known)
            if what is not None:
                self.alerts.insert(0, what)
            self.trading.mark(ev)
        if self.events:
            del self.alerts[60:]
            self.alerts_pane.object = '<div class="alerts">' + "".join(
                f'<div class="a-{lv}">{html.escape(tx)}</div>' for lv, tx in self.alerts
            ) + "</div>"  # fmt: skip
        self.events.clear()

    def _refresh(self) -> None:
        p = self.player
        if p is None:
            return
        positions = p.engine.positions(ACCOUNT)
        self.account_strip.object = account_html(p.figures(), positions)
        quotes = {}
        for sym in p.tape.symbols:
            q = p.engine.last_quote(sym)
            if q is not None:
                quotes[sym] = (str(q["bid"]), str(q["ask"]))
        self.trading.show_positions(positions, quotes)
        self.trading.show_orders(p.engine.orders(ACCOUNT))
        when = (
            datetime.fromtimestamp(p.t / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if p.t else "—"
        )
        self.status.object = (
            f'<span class="num" data-pos="{p.pos}" data-total="{len(p.tape)}">'
            f"{p.tape.label} · {when} UTC · {p.pos:,} / {len(p.tape):,} quotes "
            f"({100 * p.pos / len(p.tape):.0f} %) · {self.speed.value}</span>"
        )

    def _say(self, text: str, error: bool = False) -> None:
        cls = "ticket-msg-error" if error else ""
        self.status.object = f'<span class="{cls}">{html.escape(text)}</span>'

    # ----------------------------------------------------------- commands
    def _after_command(self) -> None:
        self._drain_events()
        self._refresh()


def replay_app(dash: Dashboards) -> pn.template.BaseTemplate:
    page = ReplayPage(dash)
    pn.state.onload(page.start)
    page.callback = pn.state.add_periodic_callback(page.tick, period=TICK_MS)
    return page.view()
