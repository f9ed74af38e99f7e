"""How the sequencer's answers reach their callers: concurrent futures are set from the
commit thread; asyncio futures are set on their own loop, all the answers of a commit
group for one loop in one call (`LoopReply`), so a busy loop is woken once per group."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LoopReply:
    """An answer to deliver to an asyncio future on its loop; all the answers of a commit
    group for one loop go over in one call, not one wake-up each."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]

    def done(self) -> bool:
        return self.future.done()


def settle(answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the loop: set each future's result or exception (unless it was cancelled)."""
    for fut, value, err in answers:
        if fut.done():
            continue
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(value)


def fail(fut: Future[Any] | LoopReply, err: BaseException) -> None:
    """Answer with an error at once (the engine is not running)."""
    if isinstance(fut, LoopReply):
        fut.loop.call_soon_threadsafe(settle, [(fut.future, None, err)])
    else:
        fut.set_exception(err)
