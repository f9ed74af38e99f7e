"""The notifications of one account: what happened while you were away, and since.

Built from the account's stored events (the history database) at login and from the
live events after, through the same `messages.notice`. Newest first. Repeated margin
calls collapse into one entry that counts them and shows the latest level and time, as
long as nothing else happened in between. What a person has seen is kept per account
in the history database (`notices_seen`: the last event sequence number seen), so an
entry is unread until its panel is opened or "Mark read" is pressed, in any browser.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from workbench.live.history import History

from .messages import Known, notice
from .view import clock

#: Event types that can make a notification (see messages.notice).
TYPES = ("closed", "opened", "order_cancelled", "margin_call")
KEEP = 100  # entries kept and shown
SCAN = 5000  # stored events read back at most, to find them

SEEN_DDL = """
CREATE TABLE IF NOT EXISTS notices_seen (
    account VARCHAR PRIMARY KEY,
    seq     BIGINT NOT NULL    -- the newest event seen in the notifications
);
"""


@dataclass
class Alert:
    """One entry: a notification, or several margin calls in a row."""

    seq: int  # the newest event's sequence number
    t: int  # its time (µs)
    level: str  # success, info, warning, error
    text: str
    kind: str  # the event type
    count: int = 1
    first_t: int = 0


class Alerts:
    """The entries of one account, newest first, and how far they were seen."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.items: list[Alert] = []
        self.seen = 0  # the newest event seq seen

    def add(self, ev: dict[str, Any], known: Known) -> Alert | None:
        """The entry this event made or updated, or None when it is no notification."""
        what = notice(ev, known)
        if what is None:
            return None
        level, text = what
        seq, t = int(ev.get("seq") or 0), int(ev.get("t") or 0)
        head = self.items[0] if self.items else None
        if ev["type"] == "margin_call" and head is not None and head.kind == "margin_call":
            head.seq, head.t, head.count = max(seq, head.seq), t, head.count + 1
            head.text = f"{text} (×{head.count}, since {clock(head.first_t)} UTC)"
            return head
        alert = Alert(seq, t, level, text, ev["type"], first_t=t)
        self.items.insert(0, alert)
        del self.items[self.keep :]
        return alert

    def unread(self) -> int:
        return sum(1 for a in self.items if a.seq > self.seen)

    def newest(self) -> int:
        return max((a.seq for a in self.items), default=self.seen)

    def html(self, unread_above: int | None = None) -> str:
        """The list: entries newer than `unread_above` (default: what was seen) marked."""
        above = self.seen if unread_above is None else unread_above
        if not self.items:
            return '<div class="alerts" data-count="0">No notifications yet.</div>'
        rows = []
        for a in self.items:
            new = a.seq > above
            rows.append(
                f'<div class="a-{a.level}{" unread" if new else ""}" data-kind="{a.kind}" '
                f'data-count="{a.count}" data-unread="{str(new).lower()}">'
                f'<span class="a-time">{clock(a.t)}</span> '
                f'<span class="a-text">{html.escape(a.text)}</span></div>'
            )
        return f'<div class="alerts" data-count="{len(self.items)}">{"".join(rows)}</div>'


def stored(history: History, account: str, limit: int = SCAN) -> tuple[list[dict[str, Any]], Known]:
    """The account's stored events that may be notifications, oldest first, and what
    their refs were (symbol, side or order) from their `opened` and `order_placed`."""
    cur = history.cursor()
    try:
        rows = cur.execute(
            "SELECT body FROM events WHERE account = $a AND list_contains($types, type) "
            "ORDER BY seq DESC LIMIT $n",
            {"a": account, "types": list(TYPES), "n": limit},
        ).fetchall()
        events = [json.loads(b) for (b,) in reversed(rows)]
        refs = sorted({e["ref"] for e in events if e["type"] != "opened" and e.get("ref")})
        known: Known = {}
        if refs:
            for (body,) in cur.execute(
                "SELECT body FROM events WHERE account = $a AND type IN ('opened', "
                "'order_placed') AND list_contains($refs, ref) ORDER BY seq",
                {"a": account, "refs": refs},
            ).fetchall():
                ev = json.loads(body)
                what = ev["side"] if ev["type"] == "opened" else (
                    f"{ev['side']} {ev['kind']} at {ev['price']}")  # fmt: skip
                known.setdefault(ev["ref"], (ev["symbol"], what))
        return events, known
    finally:
        cur.close()


class SeenStore:
    """Per account, the newest event seen in the notifications (history database)."""

    def __init__(self, history: History) -> None:
        self.history = history
        cur = history.cursor()
        try:
            cur.execute(SEEN_DDL)
        finally:
            cur.close()

    def get(self, account: str) -> int:
        cur = self.history.cursor()
        try:
            row = cur.execute(
                "SELECT seq FROM notices_seen WHERE account = ?", [account]
            ).fetchall()
        finally:
            cur.close()
        return int(row[0][0]) if row else 0

    def mark(self, account: str, seq: int) -> None:
        """Seen up to `seq` (never goes back: another tab may have seen more)."""
        cur = self.history.cursor()
        try:
            cur.execute(
                "INSERT INTO notices_seen VALUES (?, ?) ON CONFLICT (account) "
                "DO UPDATE SET seq = greatest(notices_seen.seq, excluded.seq)",
                [account, seq],
            )
        finally:
            cur.close()


_stores: dict[int, SeenStore] = {}


def seen_store(history: History) -> SeenStore:
    """The one store of a history database (its table created once)."""
    store = _stores.get(id(history))
    if store is None or store.history is not history:
        store = _stores[id(history)] = SeenStore(history)
    return store
