"""The edit form of one open position (TP, SL, trailing stop; close part of it) or one
pending order (price, expiry, TP, SL, trailing stop).

Only the fields a person changed are sent (an emptied field removes that value); the
answer shown is the engine's: the `modified`, `reduced` or `closed` event, or the
rejection's reason and message. A part to close typed as a share of the position is
rounded down to the engine's 8 decimals (`fields.part_qty`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import panel as pn

from .fields import expiry_text, number, parse_expiry, part_qty
from .messages import Known, answer, order_what, said_html
from .trader import Trader
from .view import html_pane, trailing

BRACKETS = (("take_profit", "take profit"), ("stop_loss", "stop loss"),
            ("trailing_stop", "trailing stop"))  # fmt: skip


class Editor:
    """One form, shown beside the tables while a position or an order is edited."""

    def __init__(self, trader: Trader, account: Callable[[], str | None], known: Known) -> None:
        self.trader = trader
        self.account = account
        self.known = known
        self.ref: str | None = None
        self.is_order = False
        self.base: dict[str, str] = {}  # what the engine holds, as the fields show it
        self.said = 0
        self.position_qty: str | None = None
        box: dict[str, Any] = {"width": 130}
        self.title = html_pane("", name="edit_title", width=270)
        self.price = pn.widgets.TextInput(name="Order price", **box)
        self.expiry = pn.widgets.TextInput(name="Expires (UTC, or minutes)",
                                           placeholder="never", width=170)  # fmt: skip
        self.inputs = {
            "price": self.price, "expires": self.expiry,
            "take_profit": pn.widgets.TextInput(name="New take profit", placeholder="none", **box),
            "stop_loss": pn.widgets.TextInput(name="New stop loss", placeholder="none", **box),
            "trailing_stop": pn.widgets.TextInput(name="New trailing stop", placeholder="none",
                                                  **box),
        }  # fmt: skip
        down = {"margin": (27, 5, 5, 5)}  # buttons level with the inputs under their labels
        self.save = pn.widgets.Button(name="Save changes", button_type="primary", width=120,
                                      **down)  # fmt: skip
        self.qty = pn.widgets.TextInput(name="Quantity to close", **box)
        self.shares = [pn.widgets.Button(name=f"{pct} %", button_type="light", width=58, **down)
                       for pct in (25, 50, 100)]  # fmt: skip
        self.close_part = pn.widgets.Button(name="Close part", button_type="warning", width=110,
                                            **down)  # fmt: skip
        self.done = pn.widgets.Button(name="Done", button_type="light", width=70, **down)
        self.message = html_pane("", name="edit_msg", min_height=30, sizing_mode="stretch_width",
                                 margin=(20, 10, 5, 10))  # fmt: skip
        self.save.on_click(self._save)
        self.close_part.on_click(self._close_part)
        self.done.on_click(lambda _e: self.hide())
        for pct, button in zip((25, 50, 100), self.shares, strict=True):
            button.on_click(lambda _e, pct=pct: self._share(pct))
        self.order_part = pn.Row(self.price, self.expiry)
        self.position_part = pn.Row(self.qty, *self.shares, self.close_part)
        i = self.inputs
        self.panel = pn.Column(
            pn.Row(self.title, self.order_part, i["take_profit"], i["stop_loss"],
                   i["trailing_stop"], self.save, pn.HSpacer(), self.done),
            pn.Row(pn.Spacer(width=270), self.position_part, self.message,
                   sizing_mode="stretch_width"),
            visible=False, sizing_mode="stretch_width", css_classes=["edit-card"],
            styles={"background": "#1e222d", "border-radius": "6px", "padding": "4px 8px"},
        )  # fmt: skip

    # ------------------------------------------------------------ showing
    def edit_position(self, p: dict[str, Any]) -> None:
        self._start(p["ref"], False, p)

    def edit_order(self, o: dict[str, Any]) -> None:
        self._start(o["ref"], True, o)

    def _start(self, ref: str, is_order: bool, view: dict[str, Any]) -> None:
        self.ref, self.is_order, self.base = ref, is_order, {}
        self.order_part.visible = is_order
        self.position_part.visible = not is_order
        self.qty.value = ""
        self.message.object = ""
        self._fill(view, force=True)
        self.panel.visible = True

    def hide(self) -> None:
        self.ref = None
        self.panel.visible = False

    def update(self, positions: list[dict[str, Any]], orders: list[dict[str, Any]]) -> None:
        """The engine's latest views: the form follows them (fields not being typed in)."""
        if self.ref is None:
            return
        views = orders if self.is_order else positions
        view = next((v for v in views if v["ref"] == self.ref), None)
        if view is None:
            gone = "filled, cancelled or expired" if self.is_order else "closed"
            self.title.object = (f'<div class="edit-title" data-gone="true">'
                                 f"{html.escape(self.ref[:8])} is {gone}</div>")  # fmt: skip
            self._enable(False)
            return
        self._fill(view)

    def _fill(self, view: dict[str, Any], force: bool = False) -> None:
        shown = {k: view.get(k) or "" for k, _ in BRACKETS}
        if self.is_order:
            shown["price"] = view["price"]
            shown["expires"] = expiry_text(view.get("expires"))
        for key, text in shown.items():
            widget = self.inputs[key]
            if force or widget.value.strip() == self.base.get(key, ""):
                widget.value = text  # untouched: follow the engine
            self.base[key] = text
        self.title.object = self._title(view)
        self._enable(True)

    def _title(self, v: dict[str, Any]) -> str:
        ref = html.escape(v["ref"][:8])
        if self.is_order:
            what = html.escape(f"{v['symbol']} {order_what(v)}")
            return f'<div class="edit-title"><b>Order {ref}</b><br>{what}</div>'
        self.position_qty = v["qty"]
        trail = trailing(v.get("trailing_stop"), v.get("trailing_level"))
        what = html.escape(f"{v['symbol']} {v['side']} {v['qty']} @ {v['open_price']}")
        return (f'<div class="edit-title" data-qty="{html.escape(v["qty"])}"><b>Position {ref}'
                f"</b><br>{what}<br>trailing {html.escape(trail)}</div>")  # fmt: skip

    def _enable(self, on: bool) -> None:
        for w in (self.save, self.close_part, *self.shares):
            w.disabled = not on

    def say(self, text: str, ok: bool) -> None:
        self.said += 1
        self.message.object = said_html("edit", self.said, text, ok)

    # ----------------------------------------------------------- commands
    async def _save(self, _: object = None) -> None:
        account, ref = self.account(), self.ref
        if account is None or ref is None:
            return
        changes: dict[str, Any] = {}
        try:
            for key, what in (("price", "price"), *BRACKETS):
                if key == "price" and not self.is_order:
                    continue
                typed = self.inputs[key].value.strip()
                if typed != self.base.get(key, ""):
                    changes[key] = number(typed, what, optional=key != "price")
            typed = self.expiry.value.strip()
            if self.is_order and typed != self.base.get("expires", ""):
                changes["expires"] = parse_expiry(typed, await self.trader.now())
        except ValueError as e:
            self.say(html.escape(str(e)), False)
            return
        if not changes:
            self.say("nothing changed", False)
            return
        ev = await self.trader.modify(account, ref, **changes)
        if ev["type"] == "modified":  # the fields show the engine's text of what it holds
            for key, widget in self.inputs.items():
                if key in ev:
                    text = expiry_text(ev[key]) if key == "expires" else ev[key] or ""
                    widget.value = self.base[key] = text
        self.say(*answer(ev, self.known))

    def _share(self, pct: int) -> None:
        if self.position_qty is not None:
            self.qty.value = part_qty(self.position_qty, pct)

    async def _close_part(self, _: object = None) -> None:
        account, ref = self.account(), self.ref
        if account is None or ref is None:
            return
        try:
            qty = number(self.qty.value, "quantity to close")
        except ValueError as e:
            self.say(html.escape(str(e)), False)
            return
        ev = await self.trader.close(account, ref, qty)
        if ev["type"] != "rejected":
            self.qty.value = ""  # a second click must not close another part by mistake
        self.say(*answer(ev, self.known))
