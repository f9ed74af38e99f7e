"""The replay page: recorded markets played into a private engine, traded by hand or by a
strategy, with the equity curve and the fills and liquidations marked on the chart.

The player, its engine and its strategy run in a worker process of the session's own
(replay_worker, from the pool in replay_pool), never in the serving process: a replay at
full speed costs other users nothing but the batches this page shows. The page sends
the worker its commands (load, play, speed, seek, trades) and shows the batches it
streams back, at most five a second. A worker is taken at Load, kept while paused, and
stopped when the page closes (its WebSocket gone) or its session is destroyed.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import panel as pn

from .chart import PriceChart
from .context import Dashboards
from .equity import EquityChart
from .messages import notice, order_what
from .player import ACCOUNT, export_tape, store_ranges
from .replay_batches import merge
from .replay_pool import ReplayWorker, WorkerGone
from .replay_worker import STRATEGIES
from .text import Text
from .trader import WorkerTrader
from .trading import TradingPanel
from .view import CSS, account_html, html_pane

log = logging.getLogger(__name__)

SPEEDS = {"1×": 1.0, "10×": 10.0, "60×": 60.0, "600×": 600.0, "3600×": 3600.0, "max": 0.0}
SIMULATED = "SIMULATED BTC_USDC (seeded random walk)"
WATCH_MS = 1000  # how often the page looks whether its browser is still there
# Positions and orders tables while playing: at most every TABLES_S (3x that at max), as a
# styled table costs the event loop 30-40 ms that every session waits for; at once after
# a command, a seek back, a pause or the end.
TABLES_S = 2.0
# Marks kept on the replay's chart: the newest (a strategy trading all day would bury the
# candles under its entries and exits otherwise).
KEEP_MARKS = 60


def _dt(t_us: int) -> datetime:
    return datetime.fromtimestamp(t_us / 1e6, tz=UTC).replace(tzinfo=None)


def _us(d: datetime) -> int:
    return int(d.replace(tzinfo=UTC).timestamp() * 1e6)


class ReplayPage:
    """Controls, chart, equity and account of one replay session."""

    def __init__(self, dash: Dashboards) -> None:
        self.dash = dash
        self.doc = pn.state.curdoc
        self.worker: ReplayWorker | None = None
        self.closed = False
        self.ranges: dict[str, tuple[int, int, int]] = {}
        self.symbols: list[str] = []
        self.alerts: list[tuple[str, str]] = []
        self._pending: dict[str, Any] | None = None  # batches not applied yet, merged
        self._tables_at = 0.0
        self._connected = False
        self._waiting: asyncio.Future[ReplayWorker] | None = None  # a place in the pool's line
        self._tape: tuple[Any, ...] | None = None  # what the worker holds: Load again reuses it
        self._tape_worker: ReplayWorker | None = None
        # checkboxes, not a MultiChoice: Bokeh's Choices.js logs a deprecation warning
        # (allowHTML) in every browser console, and a box is easier to tap on a phone
        self.source = pn.widgets.CheckBoxGroup(options=[], inline=False, width=260,
                                               css_classes=["symbol-picker"])  # fmt: skip
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
        self.status = Text("replay_status", sizing_mode="stretch_width")
        self.chart = PriceChart(height=330, name="replay_chart", keep_marks=KEEP_MARKS)
        self.equity = EquityChart()
        self.account_strip = Text("account", sizing_mode="stretch_width")
        self.trading = TradingPanel(WorkerTrader(lambda: self.worker), lambda: ACCOUNT,
                                    lambda: self.chart_symbol, self.chart,
                                    height=150)  # fmt: skip
        self.ticket = self.trading.ticket
        self.known = self.trading.known
        self.alerts_pane = Text("alerts", sizing_mode="stretch_width")
        self.load.on_click(self._load)
        self.play.param.watch(self._play_changed, "value")
        self.seek.param.watch(self._seeked, "value_throttled")
        self.speed.param.watch(self._speed_changed, "value")
        self.source.param.watch(self._source_changed, "value")
        self._ignore = False  # a change the page made itself, not the person

    @property
    def chart_symbol(self) -> str:
        return self.symbols[0] if self.symbols else "BTC_USDC"

    def view(self) -> pn.template.BaseTemplate:
        picker = pn.Column(html_pane("<b>Recorded symbols</b>"), self.source, width=270)
        controls = pn.Row(picker, self.range, self.speed, self.strategy, self.mode,
                          self.load, self.play, pn.HSpacer(), self.trading.fit,
                          sizing_mode="stretch_width")  # fmt: skip
        right = pn.Column(html_pane("<b>Trade by hand</b>"), self.ticket.panel, width=300,
                          styles={"background": "#1e222d", "border-radius": "6px",
                                  "padding": "6px 10px"})  # fmt: skip
        body = pn.Column(
            controls,
            pn.Row(self.seek, self.status.panel, sizing_mode="stretch_width"),
            self.account_strip.panel,
            pn.Row(pn.Column(self.chart.panel, pn.pane.Bokeh(self.equity.figure),
                             sizing_mode="stretch_width"), right, sizing_mode="stretch_width"),
            pn.Tabs(("Open positions", self.trading.positions_table),
                    ("Pending orders", self.trading.orders_table),
                    ("Events", self.alerts_pane.panel), dynamic=False, sizing_mode="stretch_width"),
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
            try:  # one DuckDB aggregate: it runs without the GIL
                self.ranges = await asyncio.to_thread(store_ranges, con)
            except Exception:  # an empty or foreign store: offer the simulation
                self.ranges = {}
        options = [s for s in self.ranges] + [SIMULATED]
        self.source.options = options
        self.source.value = [options[0]]
        self._later(self._say, "Pick symbols and a range, then Load." if self.ranges else
                    "The tick store has no recorded quotes yet: the simulated market is "
                    "offered (record with `workbench record`, or `workbench import` "
                    "captures).")  # fmt: skip

    def _source_changed(self, event: Any) -> None:
        # the simulated market is generated, not read: no stored range applies to it
        self.range.disabled = SIMULATED in event.new
        chosen = [s for s in event.new if s in self.ranges]
        if not chosen:
            return
        lo = min(self.ranges[s][0] for s in chosen)
        hi = max(self.ranges[s][1] for s in chosen)
        # bounds off first: the new range may lie outside the old bounds (a ValueError)
        self.range.start = self.range.end = None
        self.range.value = (_dt(lo), _dt(hi + 1))
        self.range.start, self.range.end = _dt(lo), _dt(hi + 1)

    async def _load(self, _: object = None) -> None:
        chosen = list(self.source.value)
        if not chosen:
            self._later(self._say, "Pick at least one symbol.", True)
            return
        if SIMULATED not in chosen and any(s not in self.ranges for s in chosen):
            self._later(self._say, "Pick symbols the tick store holds.", True)
            return
        self.play.value = False
        self.load.disabled = True
        try:
            worker = await self._worker()
            if worker is None:
                return
            key = (tuple(chosen), None if SIMULATED in chosen else tuple(self.range.value))
            if key == self._tape and worker is self._tape_worker:
                source: dict[str, Any] = {"kind": "again"}  # the worker has it: no new read
            elif SIMULATED in chosen:
                source = {"kind": "simulated"}
            else:
                lo, hi = self.range.value
                path = worker.dir / "tape.parquet"
                await asyncio.to_thread(export_tape, self.dash.state.tick_db, chosen,
                                        _us(lo), _us(hi), path)  # fmt: skip
                source = {"kind": "parquet", "path": str(path), "symbols": chosen}
            self._later(self._say, "Loading…")
            self._tape = None
            info = await worker.request("load", source, self.strategy.value, self.mode.value,
                                        SPEEDS[self.speed.value])  # fmt: skip
            if not isinstance(info, str):
                self._tape, self._tape_worker = key, worker
        except WorkerGone as e:
            self._later(self._say, str(e), True)
            return
        except Exception as e:  # no worker could start, or the tape could not be written
            log.exception("a replay could not load")
            self._later(self._say, f"The replay could not load: {type(e).__name__}: {e}", True)
            return
        finally:
            self._later(setattr, self.load, "disabled", False)
        if isinstance(info, str):
            self._later(self._say, info, True)
            return
        # after an await the document is not locked: Bokeh models change on its next tick
        self._later(self._loaded, info)

    async def _worker(self) -> ReplayWorker | None:
        """This page's worker: the one it has, or one from the pool (perhaps after a wait)."""
        if self.worker is not None and self.worker.gone is None:
            return self.worker
        pool = self.dash.replays
        if pool is None:
            self._later(self._say, "Replays are not available on this server.", True)
            return None

        def queued(ahead: int) -> None:
            self._later(self._say, f"All {pool.workers} replay workers are busy with other "
                        f"replays: yours is queued ({ahead} ahead of it) and starts as soon as "
                        f"one frees.")  # fmt: skip

        self._later(self._say, "Starting the replay's worker process…")
        self._waiting = asyncio.ensure_future(pool.acquire(queued))
        try:
            worker = await self._waiting
        except asyncio.CancelledError:  # the page closed while it waited in line
            return None
        if self.closed:  # the page went while its worker started
            await worker.stop()
            return None
        worker.on_batch = self._arrived
        worker.on_exit = self._worker_exited
        self.worker = worker
        return worker

    def _loaded(self, info: dict[str, Any]) -> None:
        """The worker loaded the tape (its first batch resets the charts)."""
        self.trading.editor.hide()
        self.alerts.clear()
        self.alerts_pane.object = ""
        self.play.disabled = self.seek.disabled = False
        self._ignore = True
        self.seek.value = 0
        self._ignore = False
        self._say(f"{info['label']}: {info['quotes']:,} quotes of "
                  f"{', '.join(info['symbols'])} loaded.")  # fmt: skip

    # ------------------------------------------------------------ playing
    def _play_changed(self, event: Any) -> None:
        self.play.name = "Pause" if event.new else "Play"
        if self.worker is not None and not self._ignore:
            self.worker.send("play", bool(event.new))

    def _speed_changed(self, event: Any) -> None:
        if self.worker is not None:
            self.worker.send("speed", SPEEDS[event.new])

    def _seeked(self, event: Any) -> None:
        if not self._ignore and self.worker is not None:
            self.worker.send("seek", float(event.new))

    # ------------------------------------------------------------ batches
    def _arrived(self, batch: dict[str, Any]) -> None:
        """A batch from the worker (on the event loop): shown on the document's next tick;
        batches that come while one waits are merged into it."""
        if self._pending is not None:
            self._pending = merge(self._pending, batch)
            return
        self._pending = batch
        try:
            self.doc.add_next_tick_callback(self._apply)
        except Exception:  # the document is gone: so is the page
            self._pending = None
            self._spawn(self.close())

    def _apply(self) -> None:
        b, self._pending = self._pending, None
        if b is None or self.closed:
            return
        with pn.io.hold(self.doc):
            self._show(b)

    def _show(self, b: dict[str, Any]) -> None:
        self.symbols = list(b["symbols"])
        if b["reset"]:
            self.chart.reset(b["candles"] or {"t": [], "open": [], "high": [], "low": [],
                                              "close": []}, b["seconds"])  # fmt: skip
            self.chart.clear_marks()
            self.chart.simulated(b["label"] == "SIMULATED")
            self.equity.clear()
        elif b["candles"]:
            self.chart.candle(b["candles"])
        if b["quote"] is not None:
            self.chart.quote(*b["quote"])
        self.equity.extend(b["equity"])
        self._events(b["events"], b["skipped"])
        self.account_strip.object = account_html(b["figures"], b["positions"])
        now = time.monotonic()
        still = not b["playing"] or b["done"]  # paused or ended: show where it stopped
        every = TABLES_S * (3 if self.speed.value == "max" else 1)
        if b["commanded"] or b["reset"] or still or now - self._tables_at >= every:
            self._tables_at = now
            self.trading.show_positions(b["positions"], b["quotes"])
            self.trading.show_orders(b["orders"])
        pos, total = b["pos"], b["total"]
        self._ignore = True
        self.seek.value = pos / total if total else 0
        if not b["playing"] and self.play.value:
            self.play.value = False
        self._ignore = False
        if b["error"]:
            self._say(b["error"], error=True)
        elif b["done"]:
            self._say(f"End of the tape: {total:,} quotes played.")
        elif pos or b["playing"]:  # (before the first quote: the message of the Load)
            when = datetime.fromtimestamp(b["t"] / 1e6, tz=UTC).strftime(
                "%Y-%m-%d %H:%M:%S") if b["t"] else "—"  # fmt: skip
            self.status.object = (
                f'<span class="num replay-said" data-pos="{pos}" data-total="{total}">'
                f"{b['label']} · {when} UTC · {pos:,} / {total:,} quotes "
                f"({100 * pos / total:.0f} %) · {self.speed.value}</span>"
            )

    def _events(self, events: list[dict[str, Any]], skipped: int) -> None:
        for ev in events:
            if ev["type"] == "opened":
                self.known[ev["ref"]] = (ev["symbol"], ev["side"])
            elif ev["type"] == "order_placed":
                self.known[ev["ref"]] = (ev["symbol"], order_what(ev))
            what = notice(ev, self.known)
            if what is not None:
                self.alerts.insert(0, what)
            self.trading.mark(ev)
        if skipped:
            self.alerts.insert(0, ("info", f"… {skipped:,} more events (too fast to list)"))
        if events or skipped:
            del self.alerts[60:]
            self.alerts_pane.object = '<div class="alerts">' + "".join(
                f'<div class="a-{lv}">{html.escape(tx)}</div>' for lv, tx in self.alerts
            ) + "</div>"  # fmt: skip

    def _worker_exited(self, why: str) -> None:
        self.worker = None
        self._later(self._stopped, why)

    def _stopped(self, why: str) -> None:
        self._ignore = True
        self.play.value = False
        self._ignore = False
        self.play.disabled = self.seek.disabled = True
        self._say(f"{why}. Load to start again.", error=True)

    def _say(self, text: str, error: bool = False) -> None:
        cls = "replay-said ticket-msg-error" if error else "replay-said"
        self.status.object = f'<span class="{cls}">{html.escape(text)}</span>'

    def _later(self, fn: Any, *args: Any) -> None:
        """Run `fn(*args)` on the document's next tick (the document locked)."""
        if not self.closed:
            try:
                self.doc.add_next_tick_callback(partial(fn, *args))
            except Exception:  # the document is gone
                self._spawn(self.close())

    # ------------------------------------------------------------ closing
    def watch(self) -> None:
        """Periodic: a page whose browser has gone (its socket closed) stops its worker at
        once, not when Bokeh destroys the session seconds later."""
        ctx = self.doc.session_context
        session = getattr(ctx, "session", None) if ctx is not None else None
        count = getattr(session, "connection_count", None)
        if count is None:
            return
        if count:
            self._connected = True
        elif self._connected:
            self._spawn(self.close())

    async def close(self) -> None:
        """Stop the worker (the page closed, or its session was destroyed)."""
        self.closed = True
        if self._waiting is not None:
            self._waiting.cancel()  # out of the line, if it waits in it
        worker, self.worker = self.worker, None
        if worker is not None:
            await worker.stop()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


_tasks: set[asyncio.Task[Any]] = set()


def replay_app(dash: Dashboards) -> pn.template.BaseTemplate:
    page = ReplayPage(dash)
    pn.state.onload(page.start)
    pn.state.add_periodic_callback(page.watch, period=WATCH_MS)
    pn.state.on_session_destroyed(lambda _ctx: page._spawn(page.close()))
    return page.view()
