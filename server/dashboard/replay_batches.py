"""Replay batches that arrive while the page has not shown the last one, merged into one.

A batch (see replay_worker.Worker._batch) carries what changed since the one before it;
when the serving process is busy, two or more wait for the same document tick. Merging
keeps what the page must show (the equity points, thinned to the batch's bound keeping
the dips, the candles that changed, the newest events and a count of the rest, the
latest state of everything else), so a busy server
shows one batch, late, rather than a backlog.
"""

from __future__ import annotations

from typing import Any

from .replay_worker import EQUITY_PER_BATCH, EVENTS_PER_BATCH
from .sampling import thin

Batch = dict[str, Any]


def merge_candles(
    old: dict[str, list[Any]] | None, new: dict[str, list[Any]] | None
) -> dict[str, list[Any]] | None:
    """Candle tails by start time; a candle in both is taken from `new`."""
    if not old or not new:
        return new or old
    rows: dict[Any, tuple[Any, ...]] = {}
    for tail in (old, new):
        for i, t in enumerate(tail["t"]):
            rows[t] = tuple(tail[k][i] for k in ("open", "high", "low", "close"))
    ts = sorted(rows)
    return {"t": ts, **{k: [rows[t][j] for t in ts]
                        for j, k in enumerate(("open", "high", "low", "close"))}}  # fmt: skip


def merge(old: Batch, new: Batch) -> Batch:
    """`old` then `new` as one batch. After a reset (a new tape, a seek back) what came
    before it belongs to another run of the tape and is dropped."""
    if new["reset"]:
        return new
    events = old["events"] + new["events"]
    kept = events[-EVENTS_PER_BATCH:]
    return {
        **new,
        "reset": old["reset"],
        "candles": merge_candles(old["candles"], new["candles"]),
        "quote": new["quote"] or old["quote"],
        "equity": thin(old["equity"] + new["equity"], EQUITY_PER_BATCH),
        "events": kept,
        "skipped": old["skipped"] + new["skipped"] + len(events) - len(kept),
        "commanded": old["commanded"] or new["commanded"],
        "error": new["error"] or old["error"],
    }
