"""The live page's account tools: deposit, reset (confirmed), close all (confirmed) and
the order history as CSV.

Deposit and reset are the desk's calls that `POST /balance/deposit` and
`/balance/reset` make (the engine checks the amount: positive, at most its maximum);
close all closes each open position through the page's trader, as its Close button
does. Answers are the engine's own.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import panel as pn

from workbench.engine import BadInput
from workbench.live.desk import Desk

from ..orders import closed_order
from .export import orders_csv
from .fields import number
from .messages import Known, answer, said_html
from .numbers import sign_class
from .trader import Trader
from .view import html_pane, money


class Broker:
    """The tools' widgets and what they do, for one page's account."""

    def __init__(
        self, desk: Desk, trader: Trader, account: Callable[[], str | None],
        positions: Callable[[], list[dict[str, Any]]], known: Known,
    ) -> None:  # fmt: skip
        self.desk = desk
        self.trader = trader
        self.account = account
        self.positions = positions
        self.known = known
        self.said = 0
        down = {"margin": (22, 5, 5, 5)}
        self.amount = pn.widgets.TextInput(name="Deposit (USD)", placeholder="1000", width=120)
        self.deposit = pn.widgets.Button(name="Deposit", button_type="primary", width=90, **down)
        self.reset = pn.widgets.Button(name="Reset account", button_type="light", width=120,
                                       **down)  # fmt: skip
        self.close_all = pn.widgets.Button(name="Close all", button_type="warning", width=100,
                                           **down)  # fmt: skip
        self.export = pn.widgets.FileDownload(
            callback=self._csv, filename="orders.csv", label="Export CSV", button_type="light",
            width=110, embed=False, **down,
        )  # fmt: skip
        self.confirm_text = html_pane("", name="confirm_text")
        self.yes = pn.widgets.Button(name="Yes", button_type="danger", width=90)
        self.no = pn.widgets.Button(name="Cancel", button_type="light", width=80)
        self.confirm = pn.Row(self.confirm_text, self.yes, self.no, visible=False,
                              css_classes=["confirm-row"])  # fmt: skip
        self.message = html_pane("", name="broker_msg", min_height=24, margin=(22, 10, 5, 10))
        self.pending: str | None = None  # "reset" or "close_all" while asking
        self.deposit.on_click(self._deposit)
        self.amount.param.watch(lambda _e: self._spawn_deposit(), "enter_pressed")
        self.reset.on_click(lambda _e: self._ask("reset"))
        self.close_all.on_click(lambda _e: self._ask("close_all"))
        self.no.on_click(lambda _e: self._cancel())
        self.yes.on_click(self._confirmed)
        self.panel = pn.Column(
            pn.Row(self.amount, self.deposit, self.reset, self.close_all, self.export,
                   self.message, sizing_mode="stretch_width"),
            self.confirm, sizing_mode="stretch_width", css_classes=["broker-bar"],
        )  # fmt: skip

    def _spawn_deposit(self) -> None:
        pn.state.execute(self._deposit)

    def say(self, text: str, ok: bool) -> None:
        self.said += 1
        self.message.object = said_html("broker", self.said, text, ok)

    # ------------------------------------------------------------ deposit
    async def _deposit(self, _: object = None) -> None:
        account = self.account()
        if account is None:
            return
        try:
            amount = number(self.amount.value, "deposit amount")
        except ValueError as e:
            self.say(html.escape(str(e)), False)
            return
        assert amount is not None
        try:
            ev = await self.desk.deposit(account, amount)
        except BadInput as e:
            self.say(f"<b>refused</b>: {html.escape(str(e))}", False)
            return
        if ev["type"] == "rejected":
            self.say(*answer(ev, self.known))
            return
        self.amount.value = ""  # a second click must not deposit twice by mistake
        self.say(f"Deposited {money(ev['amount'])} USD: balance {money(ev['balance'])} USD", True)

    # ---------------------------------------------------- confirmed tools
    def _ask(self, what: str) -> None:
        if self.account() is None:
            return
        if what == "reset":
            text = ("Reset the account? Every open position is closed at the current "
                    "price, every pending order cancelled, and the balance set back to the "
                    "demo balance.")  # fmt: skip
            self.yes.name = "Yes, reset"
        else:
            n = len(self.positions())
            if n == 0:
                self.say("no open positions to close", False)
                return
            text = f"Close all {n} open position{'s' if n != 1 else ''} at the current prices?"
            self.yes.name = "Yes, close all"
        self.pending = what
        self.confirm_text.object = f'<div class="confirm" data-confirm="{what}">{text}</div>'
        self.confirm.visible = True

    def _cancel(self) -> None:
        self.pending = None
        self.confirm.visible = False

    async def _confirmed(self, _: object = None) -> None:
        what, account = self.pending, self.account()
        self._cancel()
        if account is None or what is None:
            return
        if what == "reset":
            await self._reset(account)
        else:
            await self._close_all(account)

    async def _reset(self, account: str) -> None:
        events = await self.desk.reset(account)
        bad = [e for e in events if e["type"] == "rejected"]
        if bad:
            self.say(*answer(bad[0], self.known))
            return
        done = next(e for e in events if e["type"] == "reset")
        closed = sum(1 for e in events if e["type"] == "closed")
        self.say(f"Account reset: {closed} position{'s' if closed != 1 else ''} closed, "
                 f"balance {money(done['balance'])} USD", True)  # fmt: skip

    async def _close_all(self, account: str) -> None:
        refs = [p["ref"] for p in self.positions()]
        total, closed, refused = Decimal(0), 0, []
        for ref in refs:
            ev = await self.trader.close(account, ref)
            if ev["type"] == "closed":
                closed += 1
                total += Decimal(ev["pnl"])
            else:
                refused.append(f"{ref[:8]}: {ev.get('reason')} {ev.get('message', '')}")
        pnl, cls = money(total, sign=True), sign_class(total) or "neutral"
        text = (f'<span class="{cls}" data-pnl="{pnl}">Closed {closed} '
                f"position{'s' if closed != 1 else ''}, P/L {pnl}</span>")  # fmt: skip
        if refused:
            text += "; not closed: " + html.escape("; ".join(refused))
        self.say(text, not refused)

    # ----------------------------------------------------------------- CSV
    async def _csv(self) -> io.StringIO:
        account = self.account()
        if account is None:
            return io.StringIO("")
        rows = await self.desk.closed_orders(account)
        day = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.export.filename = f"orders-{day}.csv"
        return io.StringIO(orders_csv(closed_order(account, *r) for r in rows))
