"""The order ticket: long/short, market, limit or stop, by margin or by quantity, leverage,
TP/SL and a trailing stop; a price and an optional expiry for a limit or stop order.

It sends exactly what was typed to the engine (as decimal text) and shows the engine's
own answer: the fill or the placed order, or the rejection reason and message. No check
of its own beyond "is this a number" (and reading an expiry as a time), so what a person
sees is what the API would answer.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import panel as pn

from .fields import number, parse_expiry
from .messages import answer
from .trader import Trader
from .view import html_pane

KINDS = ("Market", "Limit", "Stop")


class OrderTicket:
    """Widgets of the ticket; `submit` is wired to the page's account and symbol."""

    def __init__(self, trader: Trader, symbol: Callable[[], str],
                 account: Callable[[], str | None]) -> None:  # fmt: skip
        self.trader = trader
        self.said = 0
        self.symbol = symbol
        self.account = account
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
        self.leverage = pn.widgets.IntInput(name="Leverage", value=10, start=1, step=1, **wide)
        self.tp = pn.widgets.TextInput(name="Take profit", placeholder="optional", **wide)
        self.sl = pn.widgets.TextInput(name="Stop loss", placeholder="optional", **wide)
        self.trail = pn.widgets.TextInput(name="Trailing stop (distance)", placeholder="optional",
                                          **wide)  # fmt: skip
        self.submit = pn.widgets.Button(name="Open long", button_type="success", height=40,
                                        **wide)  # fmt: skip
        self.message = html_pane("", name="ticket_msg", min_height=40, **wide)
        self.side.param.watch(self._relabel, "value")
        self.kind.param.watch(self._relabel, "value")
        self.size_by.param.watch(self._size_changed, "value")
        self.submit.on_click(self._submit)
        self.panel = pn.Column(
            self.side, self.kind, pn.Row(self.price, self.expiry), self.size_by,
            pn.Row(self.amount, self.leverage), pn.Row(self.tp, self.sl), self.trail,
            self.submit, self.message,
            **wide,
        )  # fmt: skip

    def _relabel(self, _: Any = None) -> None:
        long = self.side.value == "Long"
        self.side.button_type = self.submit.button_type = "success" if long else "danger"
        market = self.kind.value == "Market"
        self.price.visible = self.expiry.visible = not market
        side = "long" if long else "short"
        self.submit.name = f"Open {side}" if market else f"Place {side} {self.kind.value.lower()}"

    def _size_changed(self, event: Any) -> None:
        self.amount.name = event.new
        self.amount.value = "100" if event.new.startswith("Margin") else "0.001"

    def say(self, text: str, ok: bool) -> None:
        """Show an answer (HTML, escaped by the caller); data-n counts them for tests."""
        self.said += 1
        cls = "ticket-msg-ok" if ok else "ticket-msg-error"
        self.message.object = (f'<div class="{cls}" data-ok="{str(ok).lower()}" '
                               f'data-box="ticket" data-n="{self.said}">{text}</div>')  # fmt: skip

    async def _submit(self, _: object = None) -> None:
        account = self.account()
        if account is None:
            self.say("log in to trade", False)
            return
        market = self.kind.value == "Market"
        try:
            amount = number(self.amount.value, self.size_by.value.split(" ")[0].lower())
            sizes = {
                "margin" if self.size_by.value.startswith("Margin") else "qty": amount,
                "take_profit": number(self.tp.value, "take profit", optional=True),
                "stop_loss": number(self.sl.value, "stop loss", optional=True),
                "trailing_stop": number(self.trail.value, "trailing stop", optional=True),
            }
            price = None if market else number(self.price.value, "price")
        except ValueError as e:
            self.say(html.escape(str(e)), False)
            return
        side = self.side.value.lower()
        leverage = str(self.leverage.value)
        self.submit.disabled = True
        try:
            if market:
                ev = await self.trader.open(account, self.symbol(), side, leverage, **sizes)
            else:
                assert price is not None
                try:
                    expires = parse_expiry(self.expiry.value, await self.trader.now())
                except ValueError as e:
                    self.say(html.escape(str(e)), False)
                    return
                ev = await self.trader.order(account, self.symbol(), side,
                                             self.kind.value.lower(), price, leverage,
                                             expires=expires, **sizes)  # fmt: skip
        finally:
            self.submit.disabled = False
        self.say(*answer(ev, {}))
