"""The live page's notifications panel: the list, its unread count in the tab's title,
"Mark read", and the toasts.

At login the list is built from the account's stored history (see alerts), so what
happened while no page was open is there, unread; live events are added as they come.
Opening the panel or pressing "Mark read" stores that everything shown was seen. A
repeated margin call updates its entry and toasts again only after a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import panel as pn
from bokeh.models import TabPanel

from workbench.live.desk import Desk

from .alerts import Alerts, seen_store, stored
from .messages import Known
from .view import html_pane

TOAST_AGAIN_S = 60.0  # a repeated margin call toasts again only after this long
LIVE_KEPT = 200  # live events kept to merge with the stored ones at login


class NoticeBoard:
    """The notifications of one page's account (see the module docstring)."""

    def __init__(
        self, desk: Desk, doc: Any, toasts: Any, known: Known,
        account: Callable[[], str | None], spawn: Callable[[Any], None],
    ) -> None:  # fmt: skip
        self.desk = desk
        self.doc = doc
        self.toasts = toasts
        self.known = known
        self.account = account
        self.spawn = spawn
        self.alerts = Alerts()
        self.live: list[dict[str, Any]] = []  # events since login
        self.toasted: dict[str, float] = {}
        self.tabs: Any = None
        self.index = 0
        self.pane = html_pane(self.alerts.html(), name="alerts", sizing_mode="stretch_width")
        self.mark_read = pn.widgets.Button(name="Mark read", button_type="light", width=100)
        self.mark_read.on_click(self._mark_read)
        self.panel = pn.Column(self.mark_read, self.pane, sizing_mode="stretch_width")

    def bind(self, tabs: Any, index: int) -> None:
        """The tabs holding the panel at `index`: its title counts the unread; opening it
        marks them read."""
        self.tabs, self.index = tabs, index
        tabs.param.watch(self._tab_changed, "active")

    def clear(self) -> None:
        """A new login (or none): nothing until the account's history is read."""
        self.alerts = Alerts()
        self.live = []
        self.show()

    # ------------------------------------------------------------ events
    def event(self, ev: dict[str, Any]) -> None:
        """A live event of the account (document locked)."""
        self.live.append(ev)
        del self.live[:-LIVE_KEPT]
        alert = self.alerts.add(ev, self.known)
        if alert is not None:
            self.show()
            self._toast(alert.kind, alert.level, alert.text)

    async def load(self, account: str) -> None:
        """The account's stored notifications and how far they were seen (after login)."""
        desk = self.desk
        upto = desk.sequencer.durable_index

        def read() -> tuple[list[dict[str, Any]], Known, int]:
            desk.history.wait(upto)
            return (*stored(desk.history, account), seen_store(desk.history).get(account))

        events, known, seen = await asyncio.to_thread(read)
        if account != self.account():
            return
        for ref, what in known.items():
            self.known.setdefault(ref, what)
        alerts = Alerts()
        alerts.seen = seen
        top = 0
        for ev in events:
            alerts.add(ev, self.known)
            top = max(top, int(ev.get("seq") or 0))
        for ev in list(self.live):  # arrived while the history was read
            if int(ev.get("seq") or 0) > top:
                alerts.add(ev, self.known)
        self.doc.add_next_tick_callback(partial(self._loaded, account, alerts))

    def _loaded(self, account: str, alerts: Alerts) -> None:
        if account != self.account():
            return
        self.alerts = alerts
        self.show()
        n = alerts.unread()
        if n and self.toasts is not None:
            self.toasts.info(f"{n} unread notification{'s' if n != 1 else ''}: see "
                             "Notifications", duration=8000)  # fmt: skip
        if self.tabs is not None and self.tabs.active == self.index:
            self._seen()

    # ----------------------------------------------------------- showing
    def show(self, unread_above: int | None = None) -> None:
        self.pane.object = self.alerts.html(unread_above)
        if self.tabs is None:
            return
        n = self.alerts.unread()
        title = f"Notifications ({n})" if n else "Notifications"
        self._title(title)

    def _title(self, title: str) -> None:
        """The tab's title. Panel re-renders a tab only when its object changes and
        BokehJS redraws the headers only when the list of tabs changes: the rendered
        tab is replaced by one with the new title around the same child."""
        tabs, i = self.tabs, self.index
        if tabs._names[i] == title:
            return
        tabs._names[i] = title  # for later renders
        pane = id(tabs.objects[i])
        for ref, (model, _) in list(tabs._models.items()):
            if i < len(model.tabs):
                old = model.tabs[i]
                new = TabPanel(child=old.child, title=title, closable=old.closable,
                               name=old.name)  # fmt: skip
                model.tabs[i] = new
                panels = tabs._panels.get(ref, {})
                if pane in panels:  # the tabs only draw the opened one: Panel keeps
                    panels[pane] = new  # each tab's panel and must reuse this one

    def _toast(self, kind: str, level: str, text: str) -> None:
        if self.toasts is None:
            return
        now = asyncio.get_running_loop().time()
        if kind == "margin_call" and now - self.toasted.get(kind, -1e9) < TOAST_AGAIN_S:
            return  # its entry counts it: no flood of toasts
        self.toasted[kind] = now
        getattr(self.toasts, level)(text, duration=6000)

    def _tab_changed(self, event: Any) -> None:
        if event.new == self.index:  # after the tabs have drawn the opened one (they draw
            self.doc.add_next_tick_callback(self._seen)  # only it): its title then
        elif event.old == self.index:
            self.show()  # what was new when opened is not marked any more

    def _seen(self, keep_marks: bool = True) -> None:
        """Everything listed is read (stored for the account); the marks stay in view
        until the panel is left, unless `keep_marks` is False."""
        account, before = self.account(), self.alerts.seen
        newest = self.alerts.newest()
        if account is None or newest <= before:
            return
        self.alerts.seen = newest
        self.show(before if keep_marks else None)
        self.spawn(asyncio.to_thread(seen_store(self.desk.history).mark, account, newest))

    def _mark_read(self, _: object = None) -> None:
        self._seen(keep_marks=False)
        self.show()
