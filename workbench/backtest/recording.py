"""Recording mode: write everything a backtest fed the engine as a scenario (JSON Lines).

`workbench simulate` on the file gives the backtest's events byte for byte. The records
are: the instruments and accounts, every quote, and every command a strategy issued, each
stamped with the time and placed at the point the engine actually ran it. A command issued
inside an event listener is deferred by the engine; it is written when its answer (see
`tickets`) shows that it ran. While a quote is being fed, a command that ran before the
quote reached its symbol's book (reacting to a swap charged at a rollover the quote passed,
or to an order that expired by the quote's time) goes before the quote's line, one that
ran after it, after.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from ..domain import Instrument
from ..engine import Engine
from ..money import fmt_price


class Recorder:
    """Writes the inputs of one engine run as scenario lines to `out`."""

    def __init__(self, out: TextIO, engine: Engine) -> None:
        self.out = out
        self.engine = engine
        self._quote: tuple[str, int, str] | None = None
        self._before: list[str] = []
        self._after: list[str] = []
        self.lines = 0

    def _write(self, rec: dict[str, Any]) -> None:
        self.out.write(json.dumps(rec) + "\n")
        self.lines += 1

    def header(
        self, t: int, instruments: Iterable[Instrument], accounts: Iterable[dict[str, Any]]
    ) -> None:
        """The instrument and account records, at time t."""
        for inst in instruments:
            self._write({"t": t, "type": "instrument", **inst.to_fields()})
        for acct in accounts:
            self._write({"t": t, "type": "account", **acct})

    def ran(self, rec: dict[str, Any]) -> None:
        """A strategy's command (stamped with the time it ran) that has just run."""
        if self._quote is None:
            self._write(rec)
            return
        symbol, t, _ = self._quote
        q = self.engine.last_quote(symbol)
        applied = q is not None and q["t"] == t
        (self._after if applied else self._before).append(json.dumps(rec) + "\n")

    def begin_quote(self, symbol: str, t: int, bid: int, ask: int) -> None:
        """The quote about to be fed (alone) to the engine."""
        line = json.dumps(
            {
                "t": t,
                "type": "quote",
                "symbol": symbol,
                "bid": fmt_price(bid),
                "ask": fmt_price(ask),
            }
        )
        self._quote = (symbol, t, line + "\n")

    def end_quote(self) -> None:
        """The quote was fed: write it with the commands that ran around it."""
        assert self._quote is not None
        out = self.out
        for line in self._before:
            out.write(line)
        out.write(self._quote[2])
        for line in self._after:
            out.write(line)
        self.lines += len(self._before) + 1 + len(self._after)
        self._before.clear()
        self._after.clear()
        self._quote = None

    def finish(self, unanswered: list[dict[str, Any]]) -> None:
        """The end of the run: every command issued must have run."""
        if unanswered:
            raise RuntimeError(f"commands issued but never run by the engine: {unanswered}")
        self.out.flush()
