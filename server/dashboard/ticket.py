"""The order ticket: long/short, market, limit or stop, by margin or by quantity, leverage,
TP/SL and a trailing stop; a price and an optional expiry for a limit or stop order.

It checks what is typed as you type and never guesses: a field that is empty or not a
number is refused in plain words (see preview.read_draft). Before you send, it shows the
engine's preview of the order (price, quantity, margin, fee, free margin after, the
liquidation price) or the engine's refusal, and a refused order is not sent. What it sends
is exactly what was typed (as decimal text); the answer shown is the engine's own.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import panel as pn

from .fields import parse_expiry
from .messages import answer, said_html
from .preview import CSS as PREVIEW_CSS
from .preview import Draft, check_html, preview_html, read_draft
from .trader import Trader
from .view import CSS, html_pane

KINDS = ("Market", "Limit", "Stop")
TRADING_FEEDS = frozenset({"LIVE", "SIMULATED", "REPLAY"})
SETTLE_S = 0.15  # typing pauses this long before the engine is asked for a preview
QUOTE_REFRESH_S = 1.0  # a moving price refreshes the preview at most this often


class OrderTicket:
    """Widgets of the ticket; `submit` is wired to the page's account and symbol."""

    def __init__(self, trader: Trader, symbol: Callable[[], str],
                 account: Callable[[], str | None]) -> None:  # fmt: skip
        self.trader = trader
        self.said = 0
        self.symbol = symbol
        self.account = account
        self.doc = pn.state.curdoc
        self.feed_state: str | None = None  # None: no feed to wait for (a replay)
        self.sending = False
        self._gen = 0  # numbers each check: a preview answered after a newer one is dropped
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_quote_refresh = 0.0
        wide: dict[str, Any] = {"sizing_mode": "stretch_width"}
        self.side = pn.widgets.RadioButtonGroup(options=["Long", "Short"], value="Long",
                                                button_type="success", **wide)  # fmt: skip
        self.kind = pn.widgets.RadioButtonGroup(options=list(KINDS), value="Market",
                                                name="Order type", **wide)  # fmt: skip
        self.price = pn.widgets.TextInput(name="Price", placeholder="limit or stop price",
                                          visible=False, **wide)  # fmt: skip
        self.expiry = pn.widgets.TextInput(
            name="Expires", placeholder="never", visible=False, **wide,
            description="Minutes from now (15, or 30s, 2h, 1d) or a UTC time "
                        "(2024-08-09 00:10); empty: the order never expires",
        )  # fmt: skip
        self.size_by = pn.widgets.RadioButtonGroup(options=["Margin (USD)", "Quantity"],
                                                   value="Margin (USD)", **wide)  # fmt: skip
        self.amount = pn.widgets.TextInput(name="Margin (USD)", value="100", **wide)
        self.leverage = pn.widgets.TextInput(name="Leverage", value="10", **wide)
        self.tp = pn.widgets.TextInput(name="Take profit", placeholder="optional", **wide)
        self.sl = pn.widgets.TextInput(name="Stop loss", placeholder="optional", **wide)
        self.trail = pn.widgets.TextInput(name="Trailing stop (distance)", placeholder="optional",
                                          **wide)  # fmt: skip
        self.submit = pn.widgets.Button(name="Open long", button_type="success", height=40,
                                        **wide)  # fmt: skip
        self.check = pn.pane.HTML("", name="ticket_check", stylesheets=[CSS, PREVIEW_CSS],
                                  min_height=20, **wide)  # fmt: skip
        self.message = html_pane("", name="ticket_msg", min_height=40, **wide)
        self.inputs = {"amount": self.amount, "leverage": self.leverage, "price": self.price,
                       "expiry": self.expiry, "tp": self.tp, "sl": self.sl,
                       "trail": self.trail}  # fmt: skip
        self.typed = {key: w.value for key, w in self.inputs.items()}
        for key, w in self.inputs.items():
            w.param.watch(partial(self._typed, key), ["value", "value_input"])
        self.side.param.watch(self._relabel, "value")
        self.kind.param.watch(self._relabel, "value")
        self.size_by.param.watch(self._size_changed, "value")
        self.submit.on_click(self._submit)
        self.panel = pn.Column(
            self.side, self.kind, pn.Row(self.price, self.expiry), self.size_by,
            pn.Row(self.amount, self.leverage), pn.Row(self.tp, self.sl), self.trail,
            self.check, self.submit, self.message,
            **wide,
        )  # fmt: skip

    # ------------------------------------------------------------ as you type
    def _typed(self, key: str, *events: Any) -> None:
        """A field changed: `value_input` (every key) is the text as it stands when it
        comes with `value` (committed on Enter or leaving the field, so maybe older)."""
        new = {e.name: e.new for e in events}
        self.typed[key] = str(new.get("value_input", new.get("value")) or "")
        self.refresh()

    def _relabel(self, _: Any = None) -> None:
        long = self.side.value == "Long"
        self.side.button_type = self.submit.button_type = "success" if long else "danger"
        market = self.kind.value == "Market"
        self.price.visible = self.expiry.visible = not market
        side = "long" if long else "short"
        self.submit.name = f"Open {side}" if market else f"Place {side} {self.kind.value.lower()}"
        self.refresh()

    def _size_changed(self, event: Any) -> None:
        self.amount.name = event.new
        self.amount.value = "100" if event.new.startswith("Margin") else "0.001"

    def draft(self) -> Draft:
        """The order in the fields, or ValueError saying why there is none."""
        return read_draft(self.typed, self.side.value.lower(), self.kind.value.lower(),
                          self.size_by.value.startswith("Margin"))  # fmt: skip

    def refresh(self, settle: float = SETTLE_S) -> None:
        """Check the fields now; ask the engine for a preview once typing settles."""
        self._gen += 1  # a preview still on its way is stale now
        try:
            self.draft()
        except ValueError as e:
            self.check.object = check_html(str(e))
            return
        if self.account() is None or not hasattr(self.trader, "preview"):
            self.check.object = ""
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: a ticket used outside a server
            return
        task = loop.create_task(self._preview_later(self._gen, settle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def quote_moved(self) -> None:
        """The page's symbol has a new quote: the preview follows, at most once a second."""
        now = time.monotonic()
        if now - self._last_quote_refresh >= QUOTE_REFRESH_S:
            self._last_quote_refresh = now
            self.refresh(settle=0)

    def feed(self, status: dict[str, Any]) -> None:
        """The feed's state: orders go out only while prices are live (or simulated)."""
        self.feed_state = str(status.get("state") or "STARTING")
        self._enable()

    def _enable(self) -> None:
        feed_ok = self.feed_state is None or self.feed_state in TRADING_FEEDS
        self.submit.disabled = self.sending or not feed_ok

    async def _preview_later(self, gen: int, settle: float) -> None:
        if settle:
            await asyncio.sleep(settle)
        if gen != self._gen:  # typed on: a newer check follows
            return
        result = await self._preview(None)
        if result is not None and gen == self._gen:
            self._show_check(preview_html(result))

    async def _preview(self, expires: int | None) -> dict[str, Any] | None:
        """The engine's preview of the order in the fields (None if there is none)."""
        account = self.account()
        previewer = getattr(self.trader, "preview", None)
        try:
            draft = self.draft()
        except ValueError:
            return None
        if account is None or previewer is None:
            return None
        args = draft.preview_args()
        if expires is not None:
            args["expires"] = expires
        result: dict[str, Any] = await previewer(account, self.symbol(), **args)
        return result

    def _show_check(self, text: str) -> None:
        doc = self.doc
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(partial(setattr, self.check, "object", text))
        else:
            self.check.object = text

    # ---------------------------------------------------------------- sending
    def say(self, text: str, ok: bool) -> None:
        """Show an answer (HTML, escaped by the caller); data-n counts them for tests."""
        self.said += 1
        self.message.object = said_html("ticket", self.said, text, ok)

    async def _submit(self, _: object = None) -> None:
        account = self.account()
        if account is None:
            self.say("log in to trade", False)
            return
        if self.feed_state is not None and self.feed_state not in TRADING_FEEDS:
            self.say(f"the feed is {html.escape(self.feed_state)}: orders go out once prices "
                     "are live again", False)  # fmt: skip
            return
        try:
            draft = self.draft()
        except ValueError as e:
            self.say(html.escape(str(e)), False)
            return
        self.sending = True
        self._enable()
        try:
            await self._send(account, draft)
        finally:
            self.sending = False
            self._enable()
        self.refresh()

    async def _send(self, account: str, draft: Draft) -> None:
        """Check with the engine's preview, then send what was typed; say the answer."""
        expires = None
        if draft.kind != "market":
            try:
                expires = parse_expiry(self.typed["expiry"], await self.trader.now())
            except ValueError as e:
                self.say(html.escape(str(e)), False)
                return
        checked = await self._preview(expires)
        if checked is not None:
            self.check.object = preview_html(checked)
            if not checked["ok"]:  # refused by the engine's rules: nothing is sent
                rejected = {"type": "rejected", "reason": checked["reason"],
                            "message": checked["message"]}  # fmt: skip
                self.say(*answer(rejected, {}))
                return
        symbol = self.symbol()
        if draft.kind == "market":
            ev = await self.trader.open(account, symbol, draft.side, draft.leverage, **draft.sizes)
        else:
            assert draft.price is not None
            ev = await self.trader.order(account, symbol, draft.side, draft.kind, draft.price,
                                         draft.leverage, expires=expires,
                                         **draft.sizes)  # fmt: skip
        self.say(*answer(ev, {}))
