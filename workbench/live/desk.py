"""The trading desk: the one call layer every front end uses on a live engine.

REST routes, the seeds' foreign APIs, the WebSocket and the dashboards all trade through
these calls, which turn a request into one engine input (scenario record) for the
sequencer, or read the engine between inputs. Nothing here prices or settles a trade:
the engine alone does. Calls are async (awaiting the sequencer's durable answer).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from ..engine import KEEP, Engine
from ..money import fmt_decimal
from .history import History, OrderRow
from .replies import LoopReply
from .sequencer import Sequencer

T = TypeVar("T")
Event = dict[str, Any]
View = dict[str, Any]


def _text(value: Decimal | str | None) -> str | None:
    if value is None:
        return None
    return fmt_decimal(value) if isinstance(value, Decimal) else value


class Desk:
    """Commands and reads of one live engine, for accounts named by their owner."""

    def __init__(self, sequencer: Sequencer, history: History) -> None:
        self.sequencer = sequencer
        self.history = history

    async def run(self, record: dict[str, Any]) -> list[Event]:
        """One command through the sequencer: its events once durable (BadInput raises)."""
        reply = _reply()
        self.sequencer.submit_viewed(record, reply=reply)
        return await reply.future  # type: ignore[no-any-return]

    async def run_viewed(
        self,
        record: dict[str, Any],
        before: Callable[[Engine], Any] | None = None,
        after: Callable[[Engine], Any] | None = None,
    ) -> tuple[list[Event], Any, Any]:
        """A command with engine reads right before/after it, in the same engine step."""
        reply = _reply()
        self.sequencer.submit_viewed(record, before or _nothing, after or _nothing, reply)
        return await reply.future  # type: ignore[no-any-return]

    async def read(self, fn: Callable[[Engine], T]) -> T:
        """Read the engine between inputs."""
        reply = _reply()
        self.sequencer.query(fn, reply)
        return await reply.future  # type: ignore[no-any-return]

    # -------------------------------------------------------------- commands
    async def create_account(self, account: str, margin_mode: str = "isolated") -> None:
        await self.run({"type": "account", "account": account, "margin_mode": margin_mode})

    async def open(
        self,
        account: str,
        symbol: str,
        side: str,
        leverage: Decimal | str,
        *,
        margin: Decimal | str | None = None,
        qty: Decimal | str | None = None,
        take_profit: Decimal | str | None = None,
        stop_loss: Decimal | str | None = None,
        trailing_stop: Decimal | str | None = None,
        ref: str | None = None,
    ) -> tuple[Event, View | None]:
        """Open a position: the `opened` or `rejected` event, and the position as it stands
        right after (None if rejected)."""
        ref = ref or new_order_id()
        rec: dict[str, Any] = {
            "type": "open", "account": account, "ref": ref,
            "symbol": symbol, "side": side, "leverage": _text(leverage),
        }  # fmt: skip
        _put(rec, margin=margin, qty=qty, take_profit=take_profit, stop_loss=stop_loss,
             trailing_stop=trailing_stop)  # fmt: skip
        events, _, pos = await self.run_viewed(rec, after=lambda e: e.position(account, ref))
        return _own(events, account, ref), pos

    async def close(
        self, account: str, ref: str, qty: Decimal | str | None = None
    ) -> tuple[Event, View | None]:
        """Close at the engine's price, all of it or `qty` of it: the `closed`, `reduced`
        or `rejected` event, and the position the event describes: as it stood right
        before a `closed`, as it stands right after a `reduced` (None if it was not open)."""
        rec = {"type": "close", "account": account, "ref": ref}
        _put(rec, qty=qty)

        def view(e: Engine) -> View | None:
            return e.position(account, ref) if account in e.by_name else None

        events, before, after = await self.run_viewed(rec, view, view if qty is not None else None)
        ev = _own(events, account, ref, ("closed", "reduced", "rejected"))
        if ev["type"] != "reduced":
            return ev, before
        self.history.note_reduced((ev,))  # known at once, before the history is handed it
        return ev, after

    def closed_in_parts(self, account: str, ref: str) -> bool:
        """Whether the position was partly closed before (its closed order then sums the
        parts: see `History.orders`)."""
        return self.history.was_reduced(account, ref)

    async def order(
        self,
        account: str,
        symbol: str,
        side: str,
        kind: str,
        price: Decimal | str,
        leverage: Decimal | str,
        *,
        margin: Decimal | str | None = None,
        qty: Decimal | str | None = None,
        take_profit: Decimal | str | None = None,
        stop_loss: Decimal | str | None = None,
        trailing_stop: Decimal | str | None = None,
        expires: int | None = None,
        ref: str | None = None,
    ) -> Event:
        """Place a pending `limit` or `stop` order (`expires`: engine time in µs): the
        `order_placed` or `rejected` event."""
        ref = ref or new_order_id()
        rec: dict[str, Any] = {
            "type": "order", "account": account, "ref": ref, "symbol": symbol, "side": side,
            "kind": kind, "price": _text(price), "leverage": _text(leverage),
        }  # fmt: skip
        _put(rec, margin=margin, qty=qty, take_profit=take_profit, stop_loss=stop_loss,
             trailing_stop=trailing_stop)  # fmt: skip
        if expires is not None:
            rec["expires"] = expires
        return _own(await self.run(rec), account, ref, ("order_placed", "rejected"))

    async def cancel(self, account: str, ref: str) -> tuple[Event, View | None]:
        """Cancel a pending order: the `order_cancelled` or `rejected` (`unknown_order`)
        event, and the order as it stood right before (None if it was not pending)."""
        rec = {"type": "cancel", "account": account, "ref": ref}
        events, before, _ = await self.run_viewed(rec, before=lambda e: _pending(e, account, ref))
        # last: an order that expired at this very input is refused as unknown after it
        ev = _own(events, account, ref, ("order_cancelled", "rejected"), last=True)
        return ev, before

    async def modify(
        self,
        account: str,
        ref: str,
        *,
        take_profit: Any = KEEP,
        stop_loss: Any = KEEP,
        trailing_stop: Any = KEEP,
        price: Any = KEEP,
        expires: Any = KEEP,
    ) -> tuple[Event, View | None, View | None]:
        """Change an open position's TP, SL or trailing stop, or a pending order's (and its
        price, expiry): KEEP leaves a field as it is, None removes it. The `modified` or
        `rejected` event, and right after it (position view, pending order view)."""
        rec: dict[str, Any] = {"type": "modify", "account": account, "ref": ref}
        for key, value in (("take_profit", take_profit), ("stop_loss", stop_loss),
                           ("trailing_stop", trailing_stop), ("price", price)):  # fmt: skip
            if value is not KEEP:
                rec[key] = _text(value)
        if expires is not KEEP:
            rec["expires"] = expires

        def views(e: Engine) -> tuple[View | None, View | None]:
            if account not in e.by_name:
                return None, None
            return e.position(account, ref), _pending(e, account, ref)

        events, _, (pos, pending) = await self.run_viewed(rec, after=views)
        return _own(events, account, ref, ("modified", "rejected")), pos, pending

    async def deposit(self, account: str, amount: Decimal | str) -> Event:
        rec = {"type": "deposit", "account": account, "amount": _text(amount)}
        return _own(await self.run(rec), account)

    async def reset(self, account: str, margin_mode: str | None = None) -> list[Event]:
        rec: dict[str, Any] = {"type": "reset", "account": account}
        if margin_mode is not None:
            rec["margin_mode"] = margin_mode
        return await self.run(rec)

    # ----------------------------------------------------------------- reads
    async def summary(self, account: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(figures, open positions) of an account, read together."""
        return await self.read(lambda e: (e.figures(account), e.positions(account)))

    async def position(self, account: str, ref: str) -> dict[str, Any] | None:
        return await self.read(lambda e: e.position(account, ref))

    async def pending(self, account: str, ref: str | None = None) -> list[View]:
        """The account's pending orders in placement order (only `ref`'s when given)."""
        if ref is None:
            return await self.read(lambda e: e.orders(account))
        return await self.read(lambda e: [o for o in e.orders(account) if o["ref"] == ref])

    async def quotes(self) -> list[dict[str, Any]]:
        """The last quote of every instrument (None where there is none yet)."""
        return await self.read(
            lambda e: [
                e.last_quote(s) or {"symbol": s, "t": None, "bid": None, "ask": None}
                for s in e.symbols
            ]  # fmt: skip
        )

    async def symbols(self) -> list[str]:
        """The engine's instruments (kept by the sequencer: no trip to the engine thread)."""
        return list(self.sequencer.symbols)

    async def closed_orders(self, account: str, ref: str | None = None) -> list[OrderRow]:
        """(open input, opened, closed, changes) of the account's closed orders, newest
        first, with everything acknowledged before this call (see `History.orders`)."""
        upto = self.sequencer.durable_index
        return await asyncio.to_thread(self._orders_after, upto, account, ref)

    def _orders_after(self, index: int, account: str, ref: str | None) -> list[OrderRow]:
        self.history.wait(index)
        return self.history.orders(account, "closed", ref)


def _reply() -> LoopReply:
    loop = asyncio.get_running_loop()
    return LoopReply(loop, loop.create_future())


def _nothing(engine: Engine) -> None:
    return None


_ids = random.Random(os.urandom(32))  # seeded once: no system call per order


def new_order_id() -> str:
    """A random UUID4 string (made without a system call, so the event loop keeps the
    GIL: `uuid.uuid4()` reads os.urandom, and under load the GIL handover costs ms)."""
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


def _put(rec: dict[str, Any], **values: Decimal | str | None) -> None:
    """Add the given (not None) numbers to a record, as decimal text."""
    for key, value in values.items():
        if value is not None:
            rec[key] = _text(value)


def _pending(engine: Engine, account: str, ref: str) -> View | None:
    if account not in engine.by_name:
        return None
    return next((o for o in engine.orders(account) if o["ref"] == ref), None)


_RESULTS = ("opened", "closed", "rejected", "deposit", "reset")


def _own(
    events: list[Event], account: str, ref: str | None = None,
    types: tuple[str, ...] = _RESULTS, last: bool = False,
) -> Event:  # fmt: skip
    """The command's own result event: not a margin call or stop-out that followed it,
    nor another order's expiry that the input's time brought first."""
    mine = [ev for ev in events if ev.get("account") == account and ev["type"] in types
            and (ref is None or ev.get("ref") == ref)]  # fmt: skip
    if not mine:
        raise RuntimeError(f"the engine answered without a result event: {events!r}")
    return mine[-1] if last else mine[0]
