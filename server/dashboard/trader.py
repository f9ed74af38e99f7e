"""The commands a dashboard gives, on the live desk or on a replay's private engine.

Both pages trade through a `Trader`: each call is one engine command and returns the
engine's own result event (`opened`, `order_placed`, `order_cancelled`, `modified`,
`closed`, `reduced`) or its `rejected` event. Values are the decimal text that was
typed; nothing is priced or checked here. A malformed input (BadInput) comes back as a
`rejected` event with reason `refused`, so a page always has an answer to show.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from workbench.engine import KEEP, BadInput
from workbench.engine.preview import preview
from workbench.live.desk import Desk, new_order_id

from .player import Player

Event = dict[str, Any]


class Trader(Protocol):
    """One engine's commands for one page (see the module docstring)."""

    async def open(self, account: str, symbol: str, side: str, leverage: str,
                   **sizes: str | None) -> Event: ...  # fmt: skip

    async def order(self, account: str, symbol: str, side: str, kind: str, price: str,
                    leverage: str, *, expires: int | None = None,
                    **sizes: str | None) -> Event: ...  # fmt: skip

    async def cancel(self, account: str, ref: str) -> Event: ...

    async def modify(self, account: str, ref: str, **changes: Any) -> Event: ...

    async def close(self, account: str, ref: str, qty: str | None = None) -> Event: ...

    async def now(self) -> int:
        """Engine time (µs): what an expiry typed as "minutes from now" counts from."""
        ...

    async def preview(self, account: str, symbol: str, **order: Any) -> Event:
        """The engine's preview of an order (workbench.engine.preview), changing nothing."""
        ...


def refused(e: BadInput) -> Event:
    return {"type": "rejected", "reason": "refused", "message": str(e)}


async def _answer(call: Awaitable[Any]) -> Event:
    try:
        result = await call
    except BadInput as e:
        return refused(e)
    return result[0] if isinstance(result, tuple) else result  # type: ignore[no-any-return]


class DeskTrader:
    """The live engine, through the desk (the sequencer: durable, then answered)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def open(self, account: str, symbol: str, side: str, leverage: str,
                   **sizes: str | None) -> Event:  # fmt: skip
        return await _answer(self.desk.open(account, symbol, side, leverage, **sizes))

    async def order(self, account: str, symbol: str, side: str, kind: str, price: str,
                    leverage: str, *, expires: int | None = None,
                    **sizes: str | None) -> Event:  # fmt: skip
        return await _answer(self.desk.order(account, symbol, side, kind, price, leverage,
                                             expires=expires, **sizes))  # fmt: skip

    async def cancel(self, account: str, ref: str) -> Event:
        return await _answer(self.desk.cancel(account, ref))

    async def modify(self, account: str, ref: str, **changes: Any) -> Event:
        return await _answer(self.desk.modify(account, ref, **changes))

    async def close(self, account: str, ref: str, qty: str | None = None) -> Event:
        return await _answer(self.desk.close(account, ref, qty))

    async def now(self) -> int:
        seq = self.desk.sequencer
        return max(seq.clock(), await self.desk.read(lambda e: e.now))

    async def preview(self, account: str, symbol: str, **order: Any) -> Event:
        clock = self.desk.sequencer.clock()  # a command now would run at this time
        return await self.desk.read(
            lambda e: preview(e, account, symbol, **order, t=max(clock, e.now))
        )


class ReplayTrader:
    """A replay's private engine: commands at the engine's (the tape's) time, kept by the
    player so a seek back replays them. `after` runs once the engine has answered. It runs
    in the replay's worker process; the page holds a `WorkerTrader`."""

    def __init__(self, player: Callable[[], Player | None], after: Callable[[], None]) -> None:
        self.player = player
        self.after = after

    def _run(self, rec: dict[str, Any], types: tuple[str, ...]) -> Event:
        p = self.player()
        if p is None or p.t is None:
            return {"type": "rejected", "reason": "no_price",
                    "message": "load and play a replay first"}  # fmt: skip
        try:
            events = p.command(rec)
        except BadInput as e:
            return refused(e)
        self.after()
        mine = (e for e in events if e["type"] in types and e.get("ref") == rec["ref"])
        return next(mine, {"type": "rejected", "reason": "no_answer",
                           "message": f"the engine did not answer: {events!r}"})  # fmt: skip

    async def open(self, account: str, symbol: str, side: str, leverage: str,
                   **sizes: str | None) -> Event:  # fmt: skip
        rec = {"type": "open", "ref": new_order_id(), "symbol": symbol, "side": side,
               "leverage": leverage, **_given(sizes)}  # fmt: skip
        return self._run(rec, ("opened", "rejected"))

    async def order(self, account: str, symbol: str, side: str, kind: str, price: str,
                    leverage: str, *, expires: int | None = None,
                    **sizes: str | None) -> Event:  # fmt: skip
        rec = {"type": "order", "ref": new_order_id(), "symbol": symbol, "side": side,
               "kind": kind, "price": price, "leverage": leverage,
               **_given({**sizes, "expires": expires})}  # fmt: skip
        return self._run(rec, ("order_placed", "rejected"))

    async def cancel(self, account: str, ref: str) -> Event:
        return self._run({"type": "cancel", "ref": ref}, ("order_cancelled", "rejected"))

    async def modify(self, account: str, ref: str, **changes: Any) -> Event:
        # KEEP is left out; None is sent: it removes the field
        rec = {"type": "modify", "ref": ref, **{k: v for k, v in changes.items() if v is not KEEP}}
        return self._run(rec, ("modified", "rejected"))

    async def close(self, account: str, ref: str, qty: str | None = None) -> Event:
        rec = {"type": "close", "ref": ref, **_given({"qty": qty})}
        return self._run(rec, ("closed", "reduced", "rejected"))

    async def now(self) -> int:
        p = self.player()
        return max(p.engine.now, 0) if p is not None else 0

    async def preview(self, account: str, symbol: str, **order: Any) -> Event:
        p = self.player()
        if p is None or p.t is None:
            return {"ok": False, "reason": "no_price", "message": "load and play a replay first"}
        from .player import ACCOUNT

        return preview(p.engine, ACCOUNT, symbol, **order)


class WorkerTrader:
    """A replay page's commands, run by a `ReplayTrader` in its worker process (see
    replay_worker): each call goes down the pipe and the engine's answer comes back."""

    def __init__(self, worker: Callable[[], Any]) -> None:
        self.worker = worker  # the page's ReplayWorker, or None before a Load

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from .replay_pool import WorkerGone

        w = self.worker()
        if w is None:
            return {"type": "rejected", "reason": "no_price",
                    "message": "load and play a replay first"}  # fmt: skip
        try:
            answer = await w.request("call", method, list(args), kwargs)
        except WorkerGone as e:
            return {"type": "rejected", "reason": "stopped", "message": str(e)}
        if answer is None:  # it raised in the worker: the page's status says what
            return {"type": "rejected", "reason": "failed",
                    "message": "the replay failed on this command"}  # fmt: skip
        return answer

    async def open(self, account: str, symbol: str, side: str, leverage: str,
                   **sizes: str | None) -> Event:  # fmt: skip
        return await self._call("open", account, symbol, side, leverage, **sizes)  # type: ignore[no-any-return]

    async def order(self, account: str, symbol: str, side: str, kind: str, price: str,
                    leverage: str, *, expires: int | None = None,
                    **sizes: str | None) -> Event:  # fmt: skip
        return await self._call("order", account, symbol, side, kind, price, leverage,  # type: ignore[no-any-return]
                                expires=expires, **sizes)  # fmt: skip

    async def cancel(self, account: str, ref: str) -> Event:
        return await self._call("cancel", account, ref)  # type: ignore[no-any-return]

    async def modify(self, account: str, ref: str, **changes: Any) -> Event:
        # KEEP does not survive a pipe (a new object on the other side): left out here
        kept = {k: v for k, v in changes.items() if v is not KEEP}
        return await self._call("modify", account, ref, **kept)  # type: ignore[no-any-return]

    async def close(self, account: str, ref: str, qty: str | None = None) -> Event:
        return await self._call("close", account, ref, qty)  # type: ignore[no-any-return]

    async def now(self) -> int:
        w = self.worker()
        if w is None:
            return 0
        answer = await self._call("now")
        return answer if isinstance(answer, int) else 0

    async def preview(self, account: str, symbol: str, **order: Any) -> Event:
        answer = await self._call("preview", account, symbol, **order)
        if answer.get("type") == "rejected":  # no worker yet, or it stopped
            return {"ok": False, "reason": answer["reason"], "message": answer["message"]}
        return answer  # type: ignore[no-any-return]


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


__all__ = ["DeskTrader", "ReplayTrader", "Trader", "WorkerTrader"]
