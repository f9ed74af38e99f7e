"""Shared helpers for engine tests: a small engine with round-number instruments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from workbench.domain import Instrument
from workbench.engine import Engine

T0 = 1_723_161_254_000_000  # 2024-08-08 23:54:14 UTC
SEC = 1_000_000


def make_engine(**inst: Any) -> tuple[Engine, list[dict[str, Any]]]:
    """An engine with instrument X (tick 0.01) and Y; returns it with its event list."""
    fields = {"symbol": "X", "tick_size": "0.01", "max_leverage": "100"}
    fields.update(inst)
    eng = Engine([Instrument.from_fields(fields), Instrument.from_fields({"symbol": "Y"})])
    events: list[dict[str, Any]] = []
    eng.subscribe(events.append)
    return eng, events


def D(x: object) -> Decimal:
    return Decimal(str(x))


def last(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return [e for e in events if e["type"] == kind][-1]
