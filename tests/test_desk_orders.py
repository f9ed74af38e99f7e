"""The desk's pending orders, modify and partial close on a live engine, in-process: each is
one journaled record answered with its own event, and the journal replays byte for byte."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from workbench.engine import KEEP
from workbench.live.desk import Desk
from workbench.live.host import LiveEngine
from workbench.live.journal import iter_lines
from workbench.money import price_units
from workbench.scenario import run

T0 = 1_723_161_254_000_000
SEC = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


def quote(live: LiveEngine, t: int, bid: str, ask: str) -> None:
    assert live.sequencer is not None
    live.sequencer.put_quotes([("BTC_USDC", t, price_units(bid), price_units(ask))])


def test_desk_orders_answer_their_own_event_and_replay(tmp_path: Path) -> None:
    clock = Clock()
    live = LiveEngine(tmp_path, clock=clock)
    live.start()
    assert live.sequencer is not None
    desk = Desk(live.sequencer, live.history)

    async def trade() -> None:
        await desk.create_account("alice")
        quote(live, T0, "60000", "60000.5")
        soon = await desk.order("alice", "BTC_USDC", "long", "limit", "59000", "10",
                                margin="100", expires=T0 + SEC, ref="soon")  # fmt: skip
        assert soon["type"] == "order_placed" and soon["expires"] == T0 + SEC
        other = await desk.order("alice", "BTC_USDC", "short", "limit", "61000", "10",
                                 qty="0.01", stop_loss="62000", ref="other")  # fmt: skip
        assert other["type"] == "order_placed"
        clock.t = T0 + 2 * SEC  # "soon" expires at the cancel's input, just before it
        ev, before = await desk.cancel("alice", "other")
        assert (ev["type"], ev["ref"], ev["reason"]) == ("order_cancelled", "other", "cancelled")
        assert before is not None and before["stop_loss"] == "62000.0"
        assert await desk.pending("alice") == []
        ev, _ = await desk.cancel("alice", "soon")  # expired already: unknown now
        assert (ev["type"], ev["reason"]) == ("rejected", "unknown_order")

        ev, pos = await desk.open("alice", "BTC_USDC", "long", "5", qty="0.1",
                                  trailing_stop="300", ref="p")  # fmt: skip
        assert ev["type"] == "opened" and pos is not None and pos["trailing_stop"] == "300.0"
        ev, pos, pending = await desk.modify("alice", "p", stop_loss="59000",
                                             trailing_stop=None)  # fmt: skip
        assert ev["type"] == "modified" and pending is None and pos is not None
        assert (pos["stop_loss"], pos["trailing_stop"]) == ("59000.0", None)
        ev, pos, _ = await desk.modify("alice", "p", take_profit="61000", stop_loss=KEEP)
        assert pos is not None and (pos["take_profit"], pos["stop_loss"]) == (
            "61000.0", "59000.0")  # fmt: skip
        assert not desk.closed_in_parts("alice", "p")
        ev, after = await desk.close("alice", "p", "0.04")
        assert ev["type"] == "reduced" and ev["remaining_qty"] == "0.06"
        assert after is not None and after["qty"] == "0.06"  # the position after the part
        assert desk.closed_in_parts("alice", "p")
        ev, before = await desk.close("alice", "p")
        assert ev["type"] == "closed" and before is not None and before["qty"] == "0.06"
        ((inp, opened, closed, changes),) = await desk.closed_orders("alice", "p")
        assert (inp["type"], opened["qty"], closed["ref"]) == ("open", "0.1", "p")
        assert [c["type"] for c in changes] == ["modified", "modified", "reduced"]

    asyncio.run(trade())
    live.stop()
    lines = list(iter_lines(tmp_path / "journal"))
    kinds = [json.loads(x)["type"] for x in lines if '"quote"' not in x]
    assert kinds.count("order") == 2 and kinds.count("cancel") == 2
    assert kinds.count("modify") == 2 and kinds.count("close") == 2
    buf = io.StringIO()
    run(lines, buf)
    printed = buf.getvalue().splitlines()
    stored = live.history.lines()
    assert printed[: len(stored)] == stored
    assert any(json.loads(x).get("reason") == "expired" for x in stored)
