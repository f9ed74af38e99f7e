"""The workbench engine: one deterministic CFD paper-trading state machine."""

from .core import BadInput, BadQuote, Engine, next_rollover_after
from .positions import KEEP
from .snapshot import SnapshotError, restore, snapshot

__all__ = [
    "Engine",
    "KEEP",
    "BadInput",
    "BadQuote",
    "snapshot",
    "restore",
    "SnapshotError",
    "next_rollover_after",
]
