"""A replay player: stored (or simulated) quotes played into a private Engine, in steps.

The replay page owns one `Player` per browser session. `advance(wall_seconds)` feeds the
quotes that `speed` makes due (all of them at once for "max"); `seek(fraction)` goes to a
point of the tape (backwards by replaying from the start: the engine is deterministic,
so the same quotes and the same commands give the same state). Trades by hand are engine
commands at the engine's time; a strategy is a `workbench.backtest.Strategy` trading
through its `Context` (the engine's public API), as in a backtest. What happened is read
from the engine's events; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from workbench.backtest.strategy import Clock, Context, Strategy
from workbench.domain import Instrument
from workbench.engine import Engine
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.columns import units_of

ACCOUNT = "replay"
TAPE_LIMIT = 5_000_000  # quotes a replay loads at most
Event = dict[str, Any]


@dataclass
class Tape:
    """Quotes in time order: symbol index, t (µs), bid, ask (1e-8 units)."""

    symbols: tuple[str, ...]
    k: np.ndarray
    t: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    label: str  # where the quotes come from, shown on the page

    def __len__(self) -> int:
        return len(self.t)


def store_ranges(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    """symbol -> (first t, last t, quotes) of the tick store."""
    cur = con.cursor()
    try:
        rows = cur.execute(
            "SELECT symbol, min(t), max(t), count(*) FROM quotes GROUP BY symbol ORDER BY symbol"
        ).fetchall()
    finally:
        cur.close()
    return {str(s): (int(a), int(b), int(n)) for s, a, b, n in rows}


def export_tape(
    con: duckdb.DuckDBPyConnection, symbols: Sequence[str], start: int, end: int, path: Path,
    limit: int = TAPE_LIMIT,
) -> int:  # fmt: skip
    """Write the stored quotes of `symbols` in [start, end) (at most `limit`, in replay
    order) to the Parquet file `path`; returns how many. One DuckDB statement: the serving
    process runs it without holding the GIL, and the tape itself never enters it."""
    cur = con.cursor()
    try:
        cur.execute(
            f"""COPY (SELECT symbol, t, bid, ask FROM quotes
                      WHERE list_contains($syms, symbol) AND t >= $lo AND t < $hi
                      ORDER BY t, list_position($syms, symbol), rowid LIMIT $n)
                TO '{_sql_path(path)}' (FORMAT parquet)""",
            {"syms": list(symbols), "lo": start, "hi": end, "n": limit},
        )
        return int(cur.fetchall()[0][0])
    finally:
        cur.close()


def parquet_tape(path: Path, symbols: Sequence[str]) -> Tape:
    """The tape `export_tape` wrote (read in a replay's worker process)."""
    con = duckdb.connect()
    try:
        table = con.sql(
            f"""SELECT CAST(list_position($syms, symbol) - 1 AS BIGINT), t, bid, ask
                FROM read_parquet('{_sql_path(path)}')""",
            params={"syms": list(symbols)},
        ).to_arrow_table()
    finally:
        con.close()
    k, t = (np.asarray(table.column(i).to_numpy(), dtype=np.int64) for i in (0, 1))
    bid, ask = (np.asarray(units_of(table.column(i)), dtype=np.int64) for i in (2, 3))
    return Tape(tuple(symbols), k, t, bid, ask, "RECORDED")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def synthetic_tape(symbols: Sequence[str] = ("BTC_USDC",), quotes: int = 36_000,
                   seed: int = 7) -> Tape:  # fmt: skip
    """A seeded random walk (SIMULATED): an hour of quotes at ~10 a second by default."""
    sq = SyntheticFeed(list(symbols), seed=seed, gaps_per_hour=0).generate(quotes)
    return Tape(sq.symbols, sq.code.astype(np.int64), sq.t, sq.bid, sq.ask, "SIMULATED")


@dataclass
class Player:
    """Plays `tape` into a fresh engine; `speed` 0 means as fast as possible."""

    tape: Tape
    margin_mode: str = "isolated"
    balance: str = "5000"
    speed: float = 60.0
    strategy: Callable[[], Strategy] | None = None  # makes a fresh workbench.backtest Strategy
    on_event: Callable[[Event], None] | None = None
    max_step: int = 50_000
    # called each time the tape's time crosses a multiple of `sample_us` (0: never), after
    # the quotes before it are fed: the engine as it was then (an equity curve's grid)
    on_sample: Callable[[], None] | None = None
    sample_us: int = 0
    pos: int = 0
    playing: bool = False
    commands: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self._restart()

    def _restart(self) -> None:
        eng = Engine()
        for sym in self.tape.symbols:
            if sym not in eng.symbols:
                eng.add_instrument(Instrument(sym))
        eng.create_account(ACCOUNT, margin_mode=self.margin_mode, balance=self.balance)
        self.sids = np.asarray([eng.symbol_id(s) for s in self.tape.symbols], dtype=np.int64)
        eng.subscribe(self._event)
        self.engine = eng
        self.pos = 0
        self._next_cmd = 0
        self.clock = Clock()
        self.ctx = Context(eng, ACCOUNT, self.clock, list(self.tape.symbols))
        self.running: Strategy | None = None  # once started: a fresh one after each restart

    def _event(self, ev: Event) -> None:
        if self.on_event is not None:
            self.on_event(ev)
        if self.running is not None and ev.get("account") == ACCOUNT:
            self.clock.t = max(self.engine.now, 0)
            self.running.on_event(self.ctx, ev)

    # ----------------------------------------------------------- playing
    @property
    def t(self) -> int | None:
        """Engine time: the time of the last quote fed."""
        return int(self.tape.t[self.pos - 1]) if self.pos else None

    @property
    def done(self) -> bool:
        return self.pos >= len(self.tape)

    def advance(self, wall_seconds: float) -> int:
        """Feed the quotes due after `wall_seconds` of play; returns how many."""
        if not self.playing or self.done:
            return 0
        if self.speed <= 0:
            end = min(len(self.tape), self.pos + self.max_step)
        else:
            t0 = int(self.tape.t[self.pos]) if self.pos == 0 else int(self.tape.t[self.pos - 1])
            until = t0 + int(wall_seconds * self.speed * 1e6)
            end = int(np.searchsorted(self.tape.t, until, side="right"))
            end = min(max(end, self.pos + 1), self.pos + self.max_step, len(self.tape))
        return self._feed_to(end)

    def _feed_to(self, end: int) -> int:
        start = self.pos
        while self.pos < end:
            # commands given earlier (replayed after a seek back) go in at their place
            stop = end
            if self._next_cmd < len(self.commands):
                stop = min(end, self.commands[self._next_cmd][0])
            sample = False
            if self.sample_us > 0 and self.on_sample is not None and stop > self.pos:
                g = self.sample_us
                cut = int(np.searchsorted(self.tape.t, (int(self.tape.t[self.pos]) // g + 1) * g))
                if cut <= stop and cut < len(self.tape):  # the grid time falls before `stop`
                    stop, sample = cut, True
            if stop > self.pos:
                s = slice(self.pos, stop)
                tape = self.tape
                self.engine.feed_quotes(
                    self.sids[tape.k[s]].tolist(), tape.t[s].tolist(), tape.bid[s].tolist(),
                    tape.ask[s].tolist(),
                )  # fmt: skip
                self.pos = stop
            if sample:
                self.on_sample()  # type: ignore[misc]
            while (
                self._next_cmd < len(self.commands) and self.commands[self._next_cmd][0] <= self.pos
            ):
                self._replay(self.commands[self._next_cmd][1])
                self._next_cmd += 1
        if self.done:
            self.playing = False
        return self.pos - start

    def seek(self, fraction: float) -> None:
        """Go to this point of the tape (0..1): forward by feeding, back by replaying."""
        target = int(round(max(0.0, min(1.0, fraction)) * len(self.tape)))
        if target < self.pos:
            self._restart()
        self._feed_to(target)

    # ---------------------------------------------------------- commands
    def command(self, record: dict[str, Any]) -> list[Event]:
        """A command by hand at the engine's time (kept, to be replayed after a seek back)."""
        events: list[Event] = []
        unsubscribe = self.engine.subscribe(events.append)
        rec = {**record, "account": ACCOUNT, "t": max(self.engine.now, 0)}
        try:
            self.engine.apply(dict(rec))
        finally:
            unsubscribe()
        self.commands.append((self.pos, rec))
        self._next_cmd = len(self.commands)
        return events

    def start_strategy(self) -> None:
        """Let the strategy trade from here on (kept, like a command, for seeks back)."""
        if self.strategy is not None:
            rec = {"type": "strategy_start", "account": ACCOUNT}
            self.commands.append((self.pos, rec))
            self._next_cmd = len(self.commands)
            self._replay(rec)

    def _replay(self, rec: dict[str, Any]) -> None:
        if rec["type"] == "strategy_start":
            if self.strategy is not None:
                self.running = self.strategy()
                self.clock.t = max(self.engine.now, 0)
                self.running.on_start(self.ctx)
        else:
            self.engine.apply(dict(rec))

    def figures(self) -> dict[str, Any]:
        return self.engine.figures(ACCOUNT)
