"""The `--feed` flag of the live server: `backpack`, `synthetic` or `replay:SYMBOLS@FROM..TO`.

`replay:BTCUSDT,ETHUSDT@2024-08-08T23:55:00..2024-08-09T00:05:00` replays the stored quotes
of those symbols in [FROM, TO). FROM and TO are ISO times (UTC unless they say otherwise)
or integer µs since the epoch; either may be left empty for an open end, and `@FROM..TO`
may be left out altogether to replay everything stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..store.reader import to_us

FeedKind = Literal["backpack", "synthetic", "replay"]
KINDS: tuple[FeedKind, ...] = ("backpack", "synthetic", "replay")
USAGE = (
    "use backpack, synthetic or replay:SYMBOLS@FROM..TO (e.g. replay:BTCUSDT@2024-08-08T23:55:00..)"
)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A parsed `--feed` value; `symbols`, `start_us` and `end_us` are for replays only.
    `str()` gives the text it was parsed from (or a canonical one)."""

    kind: FeedKind
    symbols: tuple[str, ...] = ()
    start_us: int | None = None
    end_us: int | None = None
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.text:
            return self.text
        if self.kind != "replay":
            return self.kind
        lo = "" if self.start_us is None else str(self.start_us)
        hi = "" if self.end_us is None else str(self.end_us)
        return f"replay:{','.join(self.symbols)}@{lo}..{hi}"


def _time(text: str, what: str, spec: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return to_us(text)
    except (ValueError, TypeError):
        raise ValueError(
            f"bad {what} time {text!r} in --feed {spec!r}: "
            "give an ISO time such as 2024-08-08T23:55:00 or integer µs since the epoch"
        ) from None


def parse_feed_spec(text: str) -> FeedSpec:
    """Parse a `--feed` value; a ValueError says what is wrong and what is expected."""
    spec = text.strip()
    kind, colon, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ValueError(f"unknown feed {text!r}: {USAGE}")
    if kind != "replay":
        if colon:
            raise ValueError(f"feed {kind!r} takes no arguments (got {text!r}): {USAGE}")
        return FeedSpec(kind, text=kind)
    names, at, span = rest.partition("@")
    symbols = tuple(s.strip() for s in names.split(","))
    if not colon or not any(symbols):
        raise ValueError(f"replay needs the symbols to replay (got {text!r}): {USAGE}")
    if not all(symbols):
        raise ValueError(f"empty symbol in --feed {text!r}: separate symbols with single commas")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"a symbol is given twice in --feed {text!r}")
    if not at:
        return FeedSpec("replay", symbols, text=spec)
    lo, dots, hi = span.partition("..")
    if not dots:
        raise ValueError(
            f"bad replay range {span!r} in --feed {text!r}: write FROM..TO "
            "(either may be empty, e.g. 2024-08-08T23:55:00..)"
        )
    start, end = _time(lo, "FROM", text), _time(hi, "TO", text)
    if start is not None and end is not None and end <= start:
        raise ValueError(
            f"replay range {span!r} in --feed {text!r} is empty: TO must be after FROM"
        )
    return FeedSpec("replay", symbols, start, end, text=spec)
