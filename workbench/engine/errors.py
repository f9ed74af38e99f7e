"""What the engine raises: bad input (nothing changed) and refused commands."""

from __future__ import annotations


class BadInput(ValueError):
    """An input the engine refuses; the engine state is unchanged."""


class BadQuote(BadInput):
    """A quote with bid <= 0, ask <= 0 or bid > ask: rejected, nothing changes."""


class Rejected(Exception):
    """Internal: a command is refused with `reason` and a readable `message`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
