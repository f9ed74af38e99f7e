"""The command side of a live run: sending a strategy's commands, reading the account back.

`Commanding` is mixed into `LiveRunner`: `command()` sends one command once
(`live_orders.send`) and answers its ticket with the engine event the server emitted for
it (read from /ws; or, when the socket is down, from the REST answer or the account read
back); `_resync()` reads the account back after the socket was down and hands what
changed meanwhile to the strategy as recovered events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from ..client import ApiError
from .live_book import Book
from .live_link import Rest, Socket
from .live_orders import Call, Outcome, answer_event, read_back, send, to_call
from .tickets import ANSWERS, Commands, Ticket

if TYPE_CHECKING:
    from .live import _Clock

log = logging.getLogger("workbench.live")
FAILURES = (ApiError, ConnectionError, httpx.HTTPError)


class Commanding:
    """Commands and the account's read-back, for `LiveRunner` (its attributes below)."""

    account: str
    rest: Rest
    book: Book
    commands: Commands
    socket: Socket
    clock: _Clock
    inbox: queue.Queue[tuple[Any, ...]]
    held: deque[tuple[Any, ...]]
    quotes: dict[str, dict[str, Any]]
    unresolved: list[tuple[Call, Ticket]]
    stopping: threading.Event
    patience: float
    answer_wait: float
    stale: float | None  # when a read-back failed and is due again (monotonic)

    def _take(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        """A server event of the account: applied to the book, answering its command."""
        ev = self.book.apply(raw)
        if ev is not None:
            self.commands.on_event(ev)
        return ev

    def _catch_up_prices(self) -> None:
        """The server's last quotes, missed while the socket was down (no hook sees them:
        `last_quote` is up to date when the events of the gap are handed out)."""
        try:
            prices = self.rest.get("/prices")["prices"]
        except FAILURES as e:
            log.warning("cannot read the last prices: %s", e)
            return
        for p in prices:
            sym, t = p["symbol"], p.get("t")
            last = self.quotes.get(sym)
            if last is None or t is None or p["bid"] is None or t <= last["t"]:
                continue
            self.quotes[sym] = {"symbol": sym, "t": t, "bid": Decimal(p["bid"]),
                                "ask": Decimal(p["ask"])}  # fmt: skip

    def _resync(self, expected: list[str] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
        for call, ticket in list(self.unresolved):
            found = _quietly(read_back, self.rest, call)
            if found is None:
                continue
            self.unresolved.remove((call, ticket))
            self._bind(ticket, found)
            expected = [*expected, *([found["order"]["id"]] if found.get("order") else [])]
        try:
            opened = self.rest.get("/trade/orders", params={"status": "open"})["orders"]
            pending = self.rest.get("/trade/pending")["orders"]
            got = self.book.sync(opened, pending, lambda sid: self.rest.find(
                f"/trade/orders/{sid}"), self.clock.t, expected)  # fmt: skip
        except FAILURES as e:
            log.warning("cannot read the account back yet (%s): trying again in 1 s", e)
            self.stale = time.monotonic() + 1.0
            return []
        self.stale = None
        for ev in got:
            self.commands.on_event(ev)
            self.held.append(("event", ev))
        return got

    def command(self, rec: dict[str, Any]) -> Ticket:
        """Send one command (a record as a backtest records it); its ticket, answered."""
        ticket = self.commands.issue(rec)
        ref = rec["ref"]
        if rec["type"] in ("open", "order") and (ref in self.book.positions or
                                                  ref in self.book.pending):  # fmt: skip
            self._reject(ref, "invalid_order", f"{ref!r} is already an open position or a "
                         "pending order")  # fmt: skip
            return ticket
        pos = self.book.positions.get(ref)
        call = to_call(rec, self.book.id(ref), pos["qty"] if pos else None)
        call.since, call.seen = self.clock.t, self.book.ids()
        if rec["type"] == "open":
            self.book.brackets[ref] = (rec.get("take_profit"), rec.get("stop_loss"))
        out = send(self.rest, call, self.patience, self.stopping)
        if out.status == "refused":
            assert out.error is not None
            self._reject(ref, out.error.reason, out.error.message)
        elif out.status == "unsent":
            self._reject(ref, "unreachable", f"the server could not be reached: {out.why}")
        elif out.status == "lost":
            log.warning("%s %s: sent, and the server could not be asked whether it ran it "
                        "(%s): it is read back when the server is back", rec["type"], ref,
                        out.why)  # fmt: skip
            self.unresolved.append((call, ticket))
        else:
            self._answered(ticket, out)
        return ticket

    def _bind(self, ticket: Ticket, found: dict[str, Any]) -> None:
        o = found.get("order")
        if ticket.command in ("open", "order") and o is not None:
            self.book.bind(o["id"], str(ticket))

    def _answered(self, ticket: Ticket, out: Outcome) -> None:
        assert out.answer is not None
        self._bind(ticket, out.answer)
        sid = self.book.id(str(ticket))
        if self.socket.up:  # its event is on its way (or there already)
            self._await(ticket)
        if ticket.done:
            return
        pre = answer_event(ticket.command, out.answer, lambda kind, t, s, **f: self.book._event(
            kind, t if t is not None else self.clock.t, s, **f))  # fmt: skip
        if pre is not None:
            pre.pop("recovered")  # the server's own answer, not a guess
            ev = self._take(pre)
            if ev is not None:
                self.held.append(("event", ev))
        if not ticket.done:
            self._resync([sid])
        if not ticket.done:
            log.warning("%s %s: answered, but its event was not found", ticket.command, ticket)

    def _await(self, ticket: Ticket) -> None:
        """Read /ws until the ticket's event came (others wait in `held`)."""
        want = set(ticket_answers(ticket.command))
        deadline = time.monotonic() + self.answer_wait
        while not ticket.done:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                item = self.inbox.get(timeout=left)
            except queue.Empty:
                return
            m = item[1]
            if item[0] == "msg" and m.get("type") in want and m.get("account") == self.account:
                ev = self._take(m)
                if ev is not None:
                    self.held.append(("event", ev))
                continue
            self.held.append(item)
            if item[0] in ("down", "fatal"):
                return

    def _reject(self, ref: str, reason: str, message: str) -> None:
        ev = {"seq": None, "t": self.clock.t, "type": "rejected", "account": self.account,
              "ref": ref, "reason": reason, "message": message}  # fmt: skip
        self.commands.on_event(ev)
        self.held.append(("event", ev))


def ticket_answers(command: str) -> set[str]:
    """The event types that may answer `command` (`rejected` comes from REST)."""
    return {k for k, cmds in ANSWERS.items() if command in cmds and k != "rejected"}


def _quietly(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except FAILURES:
        return None
