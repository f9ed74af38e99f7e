"""A replay's heavy work in a process of its own: the player, its engine and its strategy.

The serving process starts one `main` per replay page that loaded a tape (see
replay_pool). The worker lowers its own priority, then loops: it reads the page's
commands from its pipe (load, play, speed, seek, a trade, "now", stop), feeds the quotes
the speed makes due, and sends back what the page shows in batches, at most one per
`BATCH_S`: the chart's new candles and last quote, the equity points (one at each fill,
margin call or liquidation and one each `GRID_POINTS`th of the tape's time, so a fast
replay keeps its dips; at most `EQUITY_PER_BATCH`, thinned keeping them), the newest events,
the positions, the pending orders, the account figures and where the tape is. It ends
when told to stop or when the serving process's end of the pipe closes. A strategy or a
command that raises pauses the replay with the error on the page; it never ends the
worker.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from workbench.backtest.examples import Bracket
from workbench.backtest.strategy import Strategy

from .player import ACCOUNT, Player, Tape, parquet_tape, synthetic_tape
from .producer import SCALE, Candles
from .sampling import Point, thin
from .trader import ReplayTrader

NICE = 10  # added to the worker's niceness: the serving process keeps its share of the CPU
BATCH_S = 0.2  # at most five batches a second to a page
PACE_S = 0.02  # how often a paced replay (1×..3600×) feeds what is due
STEP_QUOTES = 20_000  # quotes fed at most between two looks at the pipe
EVENTS_PER_BATCH = 20  # the newest events a batch carries; older ones are only counted
FRAMES = (1, 5, 15, 60, 300, 900, 3600)  # candle seconds: the first giving <= 400 candles
GRID_POINTS = 1500  # equity points on the time grid over a whole tape (at least 1 s apart)
EQUITY_PER_BATCH = 600  # equity points a batch carries at most (thinned, dips kept)
SAMPLED = frozenset({"opened", "closed", "reduced", "margin_call"})  # an equity point each
TRADER_CALLS = frozenset({"open", "order", "cancel", "modify", "close", "now", "preview"})

STRATEGIES: dict[str, Callable[[], Strategy] | None] = {
    "none (trade by hand)": None,
    "bracket ±0.3 %, re-entered": lambda: Bracket(band="0.003"),
    "bracket ±0.1 %, re-entered": lambda: Bracket(band="0.001"),
}


def main(conn: Connection, nice: int = NICE) -> None:
    """The worker process: commands in, batches out, until stopped or orphaned."""
    with contextlib.suppress(OSError):
        os.nice(nice)
    Worker(conn).run()


def _sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never awaits (ReplayTrader's calls) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a replay command awaited something")


class Worker:
    """One replay: its player and what the page has not been sent yet."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.player: Player | None = None
        self.label = ""
        self.candles = Candles(FRAMES[0])
        self.trader = ReplayTrader(lambda: self.player, self._commanded)
        self.events: list[dict[str, Any]] = []  # the player's, since the last batch
        self.equity: list[Point] = []  # (t ms, figures) since the last batch
        self._clear()
        self._last_send = 0.0
        self._wall = time.monotonic()

    def _clear(self) -> None:
        self.events.clear()
        self.equity.clear()
        self.skipped = 0  # events not sent (more than EVENTS_PER_BATCH in a batch)
        self.changed_from: int | None = None  # the first candle (ms) changed since a send
        self.quote: tuple[float, float, float] | None = None
        self.reset = False  # the chart starts over (a new tape, a seek back)
        self.dirty = False  # something to send
        self.urgent = False  # a command was answered: send without waiting
        self.error: str | None = None

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        while True:
            p = self.player
            busy = p is not None and p.playing and not p.done
            if busy:
                assert p is not None
                timeout = 0.0 if p.speed <= 0 else PACE_S
            else:
                timeout = max(0.0, BATCH_S - (time.monotonic() - self._last_send)) if (
                    self.dirty) else 1.0  # fmt: skip
            try:
                if self.conn.poll(timeout):
                    while True:
                        if not self.handle(self.conn.recv()):
                            return
                        if not self.conn.poll(0):
                            break
            except (EOFError, OSError):
                return  # the serving process is gone, or closed its end
            if busy:
                self._guarded(self._play)
            self._maybe_send()

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        """Run `fn`; an exception pauses the replay and is shown on the page."""
        try:
            return fn()
        except Exception as e:  # a strategy's or the engine's: the page says which
            if self.player is not None:
                self.player.playing = False
            self.error = f"the replay paused: {type(e).__name__}: {e}"
            self.dirty = self.urgent = True
            return None

    def _play(self) -> None:
        p = self.player
        assert p is not None
        now = time.monotonic()
        wall, self._wall = now - self._wall, now
        before = p.pos
        p.advance(wall)
        self._took(before, p.pos)

    # -------------------------------------------------------------- commands
    def handle(self, msg: tuple[Any, ...]) -> bool:
        """One command from the page; False to stop."""
        op = msg[0]
        if op == "stop":
            return False
        if op == "load":
            _, rid, source, strategy, mode, speed = msg
            try:
                self._answer(rid, self._load(source, strategy, mode, speed))
            except Exception as e:  # an unreadable tape: the page says why
                self._answer(rid, f"The replay could not load: {type(e).__name__}: {e}")
        elif op == "call":
            _, rid, method, args, kwargs = msg
            self._answer(rid, self._guarded(lambda: self._call(method, args, kwargs)))
        elif self.player is None:
            return True
        elif op == "play":
            self._guarded(lambda: self._set_playing(bool(msg[1])))
        elif op == "speed":
            self.player.speed = float(msg[1])
        elif op == "seek":
            self._guarded(lambda: self._seek(float(msg[1])))
        self.dirty = True
        return True

    def _answer(self, rid: int, value: Any) -> None:
        self.conn.send(("answer", rid, value))

    def _load(self, source: dict[str, Any], strategy: str, mode: str, speed: float) -> Any:
        if source["kind"] == "again":
            if self.player is None:
                return "No tape to load again."
            tape = self.player.tape
        elif source["kind"] == "simulated":
            tape = synthetic_tape()
        else:
            path = Path(source["path"])
            try:
                tape = parquet_tape(path, source["symbols"])
            finally:
                path.unlink(missing_ok=True)
        if not len(tape):
            return "No quotes in that range."
        span_us = int(tape.t[-1] - tape.t[0])
        self.player = Player(tape, margin_mode=mode, speed=speed, strategy=STRATEGIES[strategy],
                             on_event=self._event, max_step=STEP_QUOTES, on_sample=self._sample,
                             sample_us=max(1_000_000, span_us // GRID_POINTS))  # fmt: skip
        span = span_us // 1_000_000
        self.candles = Candles(next((f for f in FRAMES if span / f <= 400), FRAMES[-1]))
        self._clear()
        self.reset = self.dirty = self.urgent = True
        return {"label": tape.label, "quotes": len(tape), "symbols": list(tape.symbols),
                "seconds": self.candles.seconds}  # fmt: skip

    def _call(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if method not in TRADER_CALLS:
            raise ValueError(f"no replay command {method!r}")
        return _sync(getattr(self.trader, method)(*args, **kwargs))

    def _event(self, ev: dict[str, Any]) -> None:
        self.events.append(ev)
        if ev["type"] in SAMPLED and ev.get("account") == ACCOUNT:
            self._sample()

    def _sample(self) -> None:
        """An equity point: the account as the engine has it now."""
        p = self.player
        if p is not None:
            self.equity.append(_point(max(p.engine.now, 0), p.engine.figures(ACCOUNT)))

    def _commanded(self) -> None:
        self.dirty = self.urgent = True

    def _set_playing(self, on: bool) -> None:
        p = self.player
        assert p is not None
        if on and p.done:
            return
        p.playing = on
        self._wall = time.monotonic()
        if (
            on
            and p.strategy is not None
            and not any(r["type"] == "strategy_start" for _, r in p.commands)
        ):
            before = p.pos
            if p.pos == 0:
                p.advance(0.0)  # the strategy needs a first quote to price its order
            p.start_strategy()
            self._took(before, p.pos)

    def _seek(self, fraction: float) -> None:
        p = self.player
        assert p is not None
        before = p.pos
        n_events, n_equity = len(self.events), len(self.equity)
        p.seek(fraction)
        if p.pos < before:  # replayed from the start: the charts start over too, with what
            # the replay up to here gave (what came before belongs to the other run)
            del self.events[:n_events]
            del self.equity[:n_equity]
            self.skipped = 0
            self.candles = Candles(self.candles.seconds)
            self.reset = True
            self._took(0, p.pos)
        else:
            self._took(before, p.pos)

    # --------------------------------------------------------------- batches
    def _took(self, a: int, b: int) -> None:
        """Quotes a..b were fed: the chart symbol's candles and last quote."""
        p = self.player
        if p is None or b <= a:
            return
        self.dirty = True
        tape = p.tape
        sel = slice(a, b)
        mine = tape.k[sel] == 0
        t = tape.t[sel][mine]
        if not len(t):
            return
        bid, ask = tape.bid[sel][mine], tape.ask[sel][mine]
        self.candles.add_many(t, (bid + ask) * (SCALE / 2))
        first = int(t[0]) // 1_000_000 // self.candles.seconds * self.candles.seconds * 1000
        self.changed_from = first if self.changed_from is None else min(self.changed_from, first)
        self.quote = (float(t[-1]) / 1000, float(bid[-1]) * SCALE, float(ask[-1]) * SCALE)

    def _maybe_send(self) -> None:
        if not self.dirty or self.player is None:
            return
        now = time.monotonic()
        if not self.urgent and now - self._last_send < BATCH_S:
            return
        self.conn.send(("batch", self._batch()))
        self._last_send = now
        self._clear()

    def _batch(self) -> dict[str, Any]:
        p = self.player
        assert p is not None
        eng = p.engine
        figures = eng.figures(ACCOUNT)
        candles = None
        if self.reset:
            candles = self.candles.tail()
        elif self.changed_from is not None:
            # every candle from the first changed on: at max speed a step can bring hundreds
            # (the dip of a margin call among them), not only the last few
            n = len(self.candles.t) - bisect.bisect_left(self.candles.t, self.changed_from)
            candles = self.candles.tail(max(n, 1))
        quotes = {}
        for sym in p.tape.symbols:
            q = eng.last_quote(sym)
            if q is not None:
                quotes[sym] = (str(q["bid"]), str(q["ask"]))
        equity = list(self.equity)
        if p.pos:
            equity.append(_point(int(p.tape.t[p.pos - 1]), figures))
        events = self.events[-EVENTS_PER_BATCH:]
        return {
            "pos": p.pos, "total": len(p.tape), "t": p.t, "playing": p.playing, "done": p.done,
            "label": p.tape.label, "symbols": p.tape.symbols, "reset": self.reset,
            "seconds": self.candles.seconds,
            "candles": candles, "quote": self.quote,
            "equity": thin(equity, EQUITY_PER_BATCH),
            "events": events, "skipped": self.skipped + len(self.events) - len(events),
            "positions": eng.positions(ACCOUNT), "orders": eng.orders(ACCOUNT),
            "figures": figures, "quotes": quotes, "commanded": self.urgent,
            "error": self.error,
        }  # fmt: skip


def _point(t_us: int, figures: dict[str, Any]) -> Point:
    """An equity point (floats: it is only plotted) at engine time `t_us`."""
    lvl = figures.get("margin_level")
    return (t_us / 1000, {"equity": float(figures["equity"]),
                          "margin_level": None if lvl is None else float(lvl)})  # fmt: skip


__all__ = ["BATCH_S", "NICE", "STRATEGIES", "Tape", "Worker", "main"]
