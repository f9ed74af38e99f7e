"""`workbench demo`: a short demo replay on recorded ticks that says what it did.

It imports the real recorded captures kept beside the repository (or, without them,
writes SIMULATED quotes) into the tick store under data/, replays them through the
engine with two demo accounts that trade a bracket strategy, and prints the result.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from .domain import Instrument
from .engine import Engine
from .feeds.synthetic import SyntheticFeed
from .importers.hftbacktest import import_captures
from .replay import Replay
from .store.reader import iter_quotes
from .store.schema import DEFAULT_DB, connect

CAPTURES = "binance-spot-2024-08-08"
BAND = Decimal("0.002")


def shared_captures() -> list[Path]:
    """The real captures: $WORKBENCH_SHARED_DATA, else ../shared/data beside the repository."""
    root = os.environ.get("WORKBENCH_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return sorted((base / CAPTURES).glob("*.ws.gz"))


def sample_ticks(seed: int = 7, quotes: int = 20_000) -> tuple[Any, str, str]:
    """Ticks for examples and notebooks: (data for `backtest`, its symbol, a line saying
    which). The real captures of BTCUSDT when they are beside the repository, else
    `quotes` SIMULATED quotes of BTC_USDC from `seed`."""
    files = shared_captures()
    if files:
        symbol = "BTCUSDT"
        return (
            files,
            symbol,
            f"data: REAL Binance captures ({CAPTURES}, {len(files)} files), {symbol}",
        )
    ticks = SyntheticFeed(["BTC_USDC"], seed=seed).generate(quotes)
    symbol = ticks.symbols[0]
    return (
        ticks.to_arrow(),
        symbol,
        (
            f"data: SIMULATED ticks (SyntheticFeed, seed {seed}, {len(ticks):,} quotes), {symbol}"
            " - no captures found, these are not market prices"
        ),
    )


def _store_ticks(db: Path, say: Any) -> tuple[list[str], str]:
    """Fill the tick store; returns the symbols to replay and their source."""
    con = connect(db)
    files = shared_captures()
    if files:
        res = import_captures(con, files)
        say(f"imported {len(files)} real Binance captures into {db} "
            f"({res.quotes:,} new quotes, {res.trades:,} new trades)")  # fmt: skip
        return ["BTCUSDT", "ETHUSDT"], "binance-hftbacktest"
    feed = SyntheticFeed(seed=1)
    res = feed.write(con, 50_000)
    say(f"no recorded captures found: wrote {res.quotes:,} SIMULATED quotes into {db}")
    return list(feed.symbols), "synthetic"


def run_demo(db: Path = DEFAULT_DB, *, progress: bool = True, say: Any = print) -> Engine:
    """Import, replay with two demo accounts, and report; returns the engine."""
    symbols, source = _store_ticks(db, say)
    con = connect(db)
    engine = Engine([Instrument(s, tick_size=Decimal("0.01")) for s in symbols])
    engine.create_account("isolated-50x", maintenance_rate="0.05")
    engine.create_account("cross-20x", margin_mode="cross", balance="1000")
    events: list[dict[str, Any]] = []
    plans = {"isolated-50x": ("50", "200"), "cross-20x": ("20", "100")}

    def enter(account: str, symbol: str, side: str) -> None:
        lev, margin = plans[account]
        q = engine.last_quote(symbol)
        assert q is not None
        p = q["ask"] if side == "long" else q["bid"]
        up, down = (
            (p * (1 + BAND)).quantize(Decimal("0.01")),
            (p * (1 - BAND)).quantize(Decimal("0.01")),
        )
        tp, sl = (up, down) if side == "long" else (down, up)
        engine.open(account, symbol, side, lev, margin=margin, take_profit=tp, stop_loss=sl)

    held: dict[tuple[str, str], tuple[str, str]] = {}

    def on_event(ev: dict[str, Any]) -> None:
        """The strategy: after each close, enter again on the next symbol, the other way."""
        events.append(ev)
        key = (ev.get("account", ""), ev.get("ref", ""))
        if ev["type"] == "opened":
            held[key] = (ev["symbol"], ev["side"])
        elif ev["type"] == "closed" and key in held:
            symbol, side = held.pop(key)
            nxt = symbols[(symbols.index(symbol) + 1) % len(symbols)]
            enter(key[0], nxt, "short" if side == "long" else "long")

    engine.subscribe(on_event)
    sids = [engine.symbol_id(s) for s in symbols]
    first = next(iter_quotes(con, symbols, sids=sids, source=source, chunk_rows=64))
    engine.feed_quotes(first.sids, first.ts, first.bids, first.asks)
    for account in plans:
        enter(account, symbols[0], "long")
    replay = Replay(engine, con, symbols, start=first.ts[-1] + 1, source=source,
                    progress=progress)  # fmt: skip
    status = replay.run()
    _report(engine, events, status.fed + len(first.ts), say)
    return engine


def _report(engine: Engine, events: list[dict[str, Any]], quotes: int, say: Any) -> None:
    kinds = Counter(e["type"] for e in events)
    say(f"replayed {quotes:,} quotes through the engine: "
        + ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items())))  # fmt: skip
    for acct in engine.accounts:
        closes = Counter(e["reason"] for e in events
                         if e["type"] == "closed" and e["account"] == acct.name)  # fmt: skip
        state = engine.account_state(acct.name)
        say(f"  {acct.name:13s} ({acct.mode}): balance {state['balance']} USD, "
            f"equity {state['equity']}, closes: {dict(closes) or 'none'}")  # fmt: skip
    say("next: `make run` serves the same engine over REST; "
        "`workbench simulate docs/examples/spec-example.jsonl` runs a scenario")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="a demo replay of recorded ticks with two accounts")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help="the tick store (DuckDB file)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=lambda a: run_demo(a.db, progress=not a.no_progress) and 0)
