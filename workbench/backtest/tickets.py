"""What became of a strategy's commands: tickets, the engine's answers, rejections.

Every command the engine runs answers with exactly one event of its account, emitted when
it runs: `open` with `opened`, `order` with `order_placed`, `close` with `closed` (reason
`manual`) or `reduced`, `cancel` with `order_cancelled` (reason `cancelled`), `modify` with
`modified`; any of them with `rejected`. A command issued from inside an event listener is
deferred by the engine and runs right after the input being handled, so its answer comes
later than the call; commands run in the order they were issued. `Commands` matches each
answer to its command, fills in the `Ticket` the call returned, writes the command to the
recording at the point it ran, and logs and keeps the rejections.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recording import Recorder

log = logging.getLogger("workbench.backtest")
LOGGED_REJECTIONS = 10  # per account; the rest are in result.rejections

ANSWERS: dict[str, tuple[str, ...]] = {
    "opened": ("open",),
    "order_placed": ("order",),
    "closed": ("close",),
    "reduced": ("close",),
    "modified": ("modify",),
    "order_cancelled": ("cancel",),
    "rejected": ("open", "order", "close", "cancel", "modify"),
}


def answers(ev: dict[str, Any]) -> tuple[str, ...]:
    """The commands `ev` may be the answer of (a limit fill, a take profit, an expiry...
    answer none)."""
    kind = ev["type"]
    if kind == "opened" and "order" in ev:  # a pending order filled
        return ()
    if kind == "closed" and ev["reason"] != "manual":
        return ()
    if kind == "order_cancelled" and ev["reason"] != "cancelled":
        return ()
    return ANSWERS.get(kind, ())


class Ticket(str):
    """The ref a command was about (a `str`: use it as the ref), and the engine's answer.

    `event` is the command's answer (`opened`, `order_placed`, `closed`, `reduced`,
    `modified`, `order_cancelled` or `rejected`): set on return when the command ran at
    once, or None until it runs when it was issued from `on_event` (it runs right after
    the event's input, before the next one).
    """

    command: str
    event: dict[str, Any] | None

    def __new__(cls, ref: str, command: str) -> Ticket:
        self = super().__new__(cls, ref)
        self.command = command
        self.event = None
        return self

    def __getnewargs__(self) -> tuple[str, str]:  # copy and pickle
        return str(self), self.command

    @property
    def ref(self) -> str:
        return str(self)

    @property
    def done(self) -> bool:
        """The engine has run the command."""
        return self.event is not None

    @property
    def rejected(self) -> bool:
        return self.event is not None and self.event["type"] == "rejected"

    @property
    def ok(self) -> bool:
        """The command ran and was not rejected."""
        return self.event is not None and self.event["type"] != "rejected"

    @property
    def reason(self) -> str | None:
        """The rejection reason (`invalid_order`, `insufficient_margin`, `no_price`...)."""
        return self.event.get("reason") if self.rejected else None  # type: ignore[union-attr]

    @property
    def message(self) -> str | None:
        """Why the engine refused it, in words."""
        return self.event.get("message") if self.rejected else None  # type: ignore[union-attr]

    def __repr__(self) -> str:
        state = "waiting" if self.event is None else self.event["type"]
        if self.rejected:
            state += f" {self.reason}: {self.message}"
        return f"Ticket({str(self)!r}, {self.command}, {state})"


class Commands:
    """The commands of one account waiting for their answer, and its rejections."""

    __slots__ = ("account", "recorder", "waiting", "rejections")

    def __init__(self, account: str, recorder: Recorder | None) -> None:
        self.account = account
        self.recorder = recorder
        self.waiting: list[tuple[dict[str, Any], Ticket]] = []
        self.rejections: list[dict[str, Any]] = []

    def issue(self, record: dict[str, Any]) -> Ticket:
        """A command about to go to the engine (its scenario record, without `t`)."""
        ticket = Ticket(record["ref"], record["type"])
        self.waiting.append((record, ticket))
        return ticket

    def on_event(self, ev: dict[str, Any]) -> None:
        """An engine event (every account's): the answer of a waiting command?"""
        if not self.waiting or ev.get("account") != self.account:
            return
        want = answers(ev)
        if not want:
            return
        ref = ev.get("ref")
        for i, (rec, ticket) in enumerate(self.waiting):
            if rec["type"] in want and rec["ref"] == ref:
                del self.waiting[i]
                ticket.event = ev
                if self.recorder is not None:
                    self.recorder.ran({"t": ev["t"], **rec})
                if ev["type"] == "rejected":
                    self._rejected(rec["type"], ev)
                return

    def _rejected(self, command: str, ev: dict[str, Any]) -> None:
        n = len(self.rejections)
        self.rejections.append(
            {
                "seq": ev["seq"],
                "t": ev["t"],
                "account": self.account,
                "ref": ev.get("ref"),
                "command": command,
                "reason": ev["reason"],
                "message": ev["message"],
            }
        )
        if n < LOGGED_REJECTIONS:
            log.warning(
                "%s: %s %s rejected at t=%d (%s): %s",
                self.account, command, ev.get("ref"), ev["t"], ev["reason"], ev["message"],
            )  # fmt: skip
        elif n == LOGGED_REJECTIONS:
            log.warning(
                "%s: more than %d commands rejected; the rest are not logged (see "
                "result.rejections)", self.account, LOGGED_REJECTIONS,
            )  # fmt: skip
