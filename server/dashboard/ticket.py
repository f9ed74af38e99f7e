"""The order ticket: long/short, by margin or by quantity, leverage, TP/SL.

It sends exactly what was typed to the engine (as decimal text) and shows the engine's
own answer: the fill, or the rejection reason and message. No check of its own beyond
"is this a number", so what a person sees is what the API would answer.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import panel as pn

from workbench.engine import BadInput

from .view import html_pane

Open = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, Any] | None]]]


def _number(text: str, what: str, *, optional: bool = False) -> str | None:
    text = text.strip().replace(",", "")
    if not text:
        if optional:
            return None
        raise ValueError(f"{what} is empty")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what} must be a finite number")
    return text


class OrderTicket:
    """Widgets of the ticket; `submit` is wired to the page's account and symbol."""

    def __init__(self, open_order: Open, symbol: Callable[[], str],
                 account: Callable[[], str | None]) -> None:  # fmt: skip
        self.open_order = open_order
        self.said = 0
        self.symbol = symbol
        self.account = account
        self.side = pn.widgets.RadioButtonGroup(
            options=["Long", "Short"],
            value="Long",
            button_type="success",
            sizing_mode="stretch_width",
        )
        self.size_by = pn.widgets.RadioButtonGroup(
            options=["Margin (USD)", "Quantity"], value="Margin (USD)", sizing_mode="stretch_width"
        )
        self.amount = pn.widgets.TextInput(name="Margin (USD)", value="100",
                                           sizing_mode="stretch_width")  # fmt: skip
        self.leverage = pn.widgets.IntInput(name="Leverage", value=10, start=1, step=1,
                                            sizing_mode="stretch_width")  # fmt: skip
        self.tp = pn.widgets.TextInput(name="Take profit", placeholder="optional",
                                       sizing_mode="stretch_width")  # fmt: skip
        self.sl = pn.widgets.TextInput(name="Stop loss", placeholder="optional",
                                       sizing_mode="stretch_width")  # fmt: skip
        self.submit = pn.widgets.Button(name="Open long", button_type="success",
                                        sizing_mode="stretch_width", height=40)  # fmt: skip
        self.message = html_pane("", sizing_mode="stretch_width", name="ticket_msg",
                                    min_height=40)  # fmt: skip
        self.side.param.watch(self._side_changed, "value")
        self.size_by.param.watch(self._size_changed, "value")
        self.submit.on_click(self._submit)
        self.panel = pn.Column(
            self.side, self.size_by, self.amount, self.leverage, pn.Row(self.tp, self.sl),
            self.submit, self.message, sizing_mode="stretch_width",
        )  # fmt: skip

    def _side_changed(self, event: Any) -> None:
        long = event.new == "Long"
        self.side.button_type = "success" if long else "danger"
        self.submit.button_type = "success" if long else "danger"
        self.submit.name = "Open long" if long else "Open short"

    def _size_changed(self, event: Any) -> None:
        self.amount.name = event.new
        self.amount.value = "100" if event.new.startswith("Margin") else "0.001"

    def say(self, text: str, ok: bool) -> None:
        self.said += 1
        cls = "ticket-msg-ok" if ok else "ticket-msg-error"
        self.message.object = (
            f'<div class="{cls}" data-ok="{str(ok).lower()}" data-n="{self.said}">{text}</div>'
        )

    async def _submit(self, _: object = None) -> None:
        account = self.account()
        if account is None:
            self.say("log in to trade", False)
            return
        try:
            amount = _number(self.amount.value, self.size_by.value.split(" ")[0].lower())
            tp = _number(self.tp.value, "take profit", optional=True)
            sl = _number(self.sl.value, "stop loss", optional=True)
        except ValueError as e:
            self.say(html.escape(str(e)), False)
            return
        by_margin = self.size_by.value.startswith("Margin")
        side = self.side.value.lower()
        self.submit.disabled = True
        try:
            event, _pos = await self.open_order(
                account, self.symbol(), side, str(self.leverage.value),
                margin=amount if by_margin else None, qty=None if by_margin else amount,
                take_profit=tp, stop_loss=sl,
            )  # fmt: skip
        except BadInput as e:
            self.say(f"refused: {html.escape(str(e))}", False)
            return
        finally:
            self.submit.disabled = False
        if event["type"] == "rejected":
            self.say(f"<b>{html.escape(event['reason'])}</b>: "
                     f"{html.escape(event.get('message', ''))}", False)  # fmt: skip
        else:
            self.say(f"Opened {event['side']} {event['qty']} {event['symbol']} at "
                     f"{event['price']} (margin {event['margin']})", True)  # fmt: skip
