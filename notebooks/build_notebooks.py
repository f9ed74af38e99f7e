"""Write the notebooks from plain cells (kept here so they review as code).

    .venv/bin/python notebooks/build_notebooks.py

Each notebook tells one story and is written without outputs, with fixed cell ids, so the
committed files are exactly what this script writes (tests/test_notebooks.py checks it and
runs every notebook on a real kernel). Every notebook runs offline, with or without the
real captures beside the repository (../shared/data, or $WORKBENCH_SHARED_DATA), and
writes only under a temporary directory.
"""

from __future__ import annotations

import copy
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def md(text: str) -> NotebookNode:
    return new_markdown_cell(dedent(text).strip("\n"))


def code(text: str) -> NotebookNode:
    return new_code_cell(dedent(text).strip("\n"))


# ---------------------------------------------------------------------------------------
RECORD_AND_EXPLORE = [
    md("""
    # Record a feed, then explore the ticks

    The real recorder (`workbench.recorder`, the code behind `workbench record`) connects
    to a **fake Backpack**: a WebSocket server on localhost that speaks Backpack's real
    protocol (`workbench.testing`), so no network is needed. We publish a few seconds of
    `bookTicker` quotes and trades, the recorder stores them in a DuckDB tick store under a
    temporary directory, and we look at them with DuckDB SQL, polars, the candle builder and
    a bokeh plot. Prices stay exact decimals; floats appear only in the plot.
    """),
    code("""
    import random
    import tempfile
    import time
    from decimal import Decimal
    from pathlib import Path

    import polars as pl
    from bokeh.io import output_notebook, show
    from bokeh.plotting import figure

    from workbench.candles import candles_frame
    from workbench.feeds.backpack_client import now_us
    from workbench.recorder import Recorder, RecorderConfig
    from workbench.store.live import read_quotes
    from workbench.store.schema import connect
    from workbench.testing.backpack_frames import book_ticker_frame, trade_frame
    from workbench.testing.fake_backpack_thread import FakeBackpackThread
    from workbench.testing.waiting import wait_until

    output_notebook(hide_banner=True)
    tmp = tempfile.TemporaryDirectory(prefix="wb-record-")  # removed in the last cell
    db, parquet = Path(tmp.name) / "ticks.duckdb", Path(tmp.name) / "parquet"
    """),
    md("""
    ## Start the fake exchange and the recorder

    The recorder runs in a background thread; it subscribes to `bookTicker.<symbol>` and
    `trade.<symbol>` and commits what it receives every 0.2 s. It also mirrors the
    committed rows to Parquet files that other processes can read while it records.
    """),
    code("""
    SYMBOLS = {"BTC_USDC": Decimal("0.1"), "SOL_USDC": Decimal("0.01")}  # symbol: tick
    fake = FakeBackpackThread()
    recorder = Recorder(
        RecorderConfig(
            symbols=list(SYMBOLS),
            url=fake.url,  # the recorder does not know the server is fake
            db_path=db,
            parquet_dir=parquet,
            parquet_every=1.0,
            flush_interval=0.2,
        )
    )
    recorder.start_background()
    streams = [f"{kind}.{s}" for s in SYMBOLS for kind in ("bookTicker", "trade")]
    fake.wait_subscribed(streams)
    print("recorder subscribed to", ", ".join(streams), "at", fake.url)
    """),
    md("""
    ## Publish five seconds of market data

    A random walk of the mid, a spread of one to three ticks, and a trade now and then at
    the bid or the ask. Each frame is stamped with the current time, as the exchange would.
    """),
    code("""
    rng = random.Random(7)
    mid = {"BTC_USDC": Decimal("60000.0"), "SOL_USDC": Decimal("150.00")}
    sent = {"quotes": 0, "trades": 0}
    update_id = 0
    stop_at = time.monotonic() + 5
    while time.monotonic() < stop_at:
        for symbol, tick in SYMBOLS.items():
            update_id += 1
            mid[symbol] += rng.choice((-1, 0, 0, 1)) * tick
            bid, ask = mid[symbol], mid[symbol] + rng.choice((1, 1, 1, 2, 3)) * tick
            t = now_us()
            frame = book_ticker_frame(
                symbol, bid=bid, ask=ask, bid_qty="1.5", ask_qty="2.25", update_id=update_id, t=t
            )
            fake.publish(frame)
            sent["quotes"] += 1
            if rng.random() < 0.2:
                buy = rng.random() < 0.5  # a buyer lifts the ask, a seller hits the bid
                price, qty = (ask if buy else bid), f"{rng.randint(1, 50) / 100:.2f}"
                frame = trade_frame(
                    symbol, trade_id=update_id, price=price, qty=qty, buyer_maker=not buy, t=t
                )
                fake.publish(frame)
                sent["trades"] += 1
        time.sleep(0.02)
    wait_until(lambda: recorder.stats.ticks == sum(sent.values()), timeout=10)
    print(f"published {sent['quotes']} quotes and {sent['trades']} trades")
    """),
    md("""
    While the recorder holds the DuckDB file, the Parquet mirror can be read from anywhere
    (`workbench.store.live`); it lags by at most `parquet_every` seconds.
    """),
    code("""
    wait_until(lambda: len(read_quotes(parquet)) > 0, timeout=10)
    live = read_quotes(parquet)  # a polars DataFrame, read through its own in-memory DuckDB
    print(f"{len(live)} quotes already readable from the Parquet mirror while recording")
    recorder.stop()
    recorder.join(10)
    fake.stop()
    stats = recorder.stats
    print(f"recorded {stats.committed['quotes']} quotes and {stats.committed['trades']} trades")
    print(f"duplicates {stats.duplicates}, gaps {stats.gaps}, errors {stats.errors}")
    """),
    md("""
    ## Explore with DuckDB SQL

    The store is a plain DuckDB file: `quotes(symbol, t, e, recv, bid, ask, ...)` with times
    in integer microseconds and prices as `DECIMAL(18,8)` (see docs/ticks.md).
    """),
    code("""
    con = connect(db, read_only=True)
    summary = con.sql(\"""
        SELECT symbol, count(*) AS quotes, min(bid) AS low_bid, max(ask) AS high_ask,
               round((max(t) - min(t)) / 1e6, 2) AS seconds,
               round(avg(recv - t)) AS avg_receive_delay_us
        FROM quotes GROUP BY symbol ORDER BY symbol
    \""")
    print(summary)
    con.sql(\"""
        PIVOT (SELECT symbol, make_timestamp(t // 1000000 * 1000000) AS second FROM quotes)
        ON symbol USING count(*) ORDER BY second
    \""").pl()  # quotes per second and symbol
    """),
    md("## Spread statistics with polars (exact decimals)"),
    code("""
    quotes = con.sql("SELECT symbol, t, bid, ask FROM quotes ORDER BY t").pl()
    spread = (
        quotes.with_columns(spread=pl.col("ask") - pl.col("bid"))
        .group_by("symbol")
        .agg(
            pl.len().alias("quotes"),
            pl.col("spread").min().alias("min"),
            pl.col("spread").median().alias("median"),
            pl.col("spread").max().alias("max"),
            (pl.col("spread") == pl.col("spread").min()).mean().alias("share_at_min"),
        )
        .sort("symbol")
    )
    spread
    """),
    md("""
    ## One-second candles and a plot

    `workbench.candles` builds OHLC of the mid in SQL (volume from the trades); the last
    candle is `partial` when the data ends inside it.
    """),
    code("""
    bars = candles_frame(con, "BTC_USDC", "1s")
    trades = con.sql(
        "SELECT t, price, qty, buyer_maker FROM trades WHERE symbol = 'BTC_USDC' ORDER BY t"
    ).pl()
    btc = quotes.filter(pl.col("symbol") == "BTC_USDC")


    def xy(frame, column="price", t="t"):  # µs -> datetimes, exact prices -> floats: plot only
        times = pl.from_epoch(frame[t], time_unit="us").to_list()
        return times, frame[column].cast(float).to_list()


    p = figure(x_axis_type="datetime", height=320, width=800, title="BTC_USDC as recorded")
    middles, high = xy(bars.with_columns(pl.col("start") + 500_000), "high", t="start")
    low = bars["low"].cast(float).to_list()
    p.vbar(middles, 900, high, low, color="lightgrey", legend_label="1s candle, low to high")
    p.step(*xy(btc, "bid"), mode="after", legend_label="bid")
    p.step(*xy(btc, "ask"), mode="after", color="orange", legend_label="ask")
    buys, sells = trades.filter(~pl.col("buyer_maker")), trades.filter(pl.col("buyer_maker"))
    p.scatter(*xy(buys), marker="triangle", size=9, color="green", legend_label="buy")
    p.scatter(*xy(sells), marker="inverted_triangle", size=9, color="red", legend_label="sell")
    p.legend.location = "top_right"
    show(p)
    bars.select("time", "open", "high", "low", "close", "volume", "trades", "quotes", "partial")
    """),
    code("""
    con.close()
    tmp.cleanup()
    """),
]

# ---------------------------------------------------------------------------------------
LIQUIDATION_RULES = [
    md("""
    # The liquidation rules, one chart each

    Four scripted markets drive the engine directly (`workbench.engine.Engine`), one input
    a second, with the worked examples of docs/rules.md (sections 9 to 11):

    1. **isolated liquidation**: the loss is capped at the position's margin;
    2. **cross margin call**: a warning, re-armed once the level recovers;
    3. **cross stop-out**: the worst position is closed first, until the level recovers;
    4. **negative balance protection**: a gap past zero is written off.

    Every number printed comes from the engine's events (exact decimals). The charts show
    the price with a marker where each event happens, and the account's figures below.
    """),
    code("""
    from decimal import Decimal

    import pandas as pd
    from bokeh.io import output_notebook, show
    from bokeh.layouts import column
    from bokeh.plotting import figure

    from workbench.engine import Engine

    output_notebook(hide_banner=True)
    T0 = 1_723_161_254_000_000  # 2024-08-08 23:54:14 UTC, as in docs/rules.md
    SEC = 1_000_000
    SHOWN = ["account", "ref", "symbol", "side", "reason", "price", "qty", "margin"]
    SHOWN += ["pnl", "balance", "written_off", "margin_level", "message"]


    def describe(ev):
        fields = "  ".join(f"{k} {ev[k]}" for k in SHOWN if k in ev)
        return f"{(ev['t'] - T0) // SEC:>3} s  {ev['type']:<12}{fields}"


    def play(accounts, script, symbol="BTC_USDC"):
        # Run `script` on a fresh engine, one step a second. A step is
        # ("quote", symbol, bid, ask) or ("open", account, symbol, side, leverage, {size}).
        # Prints the events; returns them, the figures after every step, and the
        # liquidation price of every isolated position.
        eng = Engine()
        for name, options in accounts.items():
            eng.create_account(name, **options)
        events, rows, liquidation = [], [], {}
        eng.subscribe(events.append)
        for s, (kind, *args) in enumerate(script):
            t = T0 + s * SEC
            if kind == "quote":
                eng.quote(args[0], t, args[1], args[2])
            else:
                account, sym, side, leverage, size = args
                eng.open(account, sym, side, leverage, t=t, **size)
            bid = eng.last_quote(symbol)["bid"]
            for a in accounts:
                rows.append({"s": s, "bid": bid, **eng.figures(a)})
                for p in eng.positions(a):
                    if p["liquidation_price"] is not None:
                        liquidation[f"{a} {p['ref']}"] = Decimal(p["liquidation_price"])
        for ev in events:
            print(describe(ev))
        return events, pd.DataFrame(rows), liquidation


    MARKERS = {  # event -> (marker, colour)
        "opened": ("triangle", "green"),
        "margin_call": ("diamond", "orange"),
        "liquidation": ("x", "red"),
        "stop_out": ("x", "red"),
        "written_off": ("star", "black"),
    }


    def chart(title, events, frame, lower, price_lines=None, lower_lines=None):
        # Price (bid) on top with a marker per event; `lower` figures of each account below,
        # with dashed levels. Floats only here, for the plot.
        end = frame.s.max() + 1  # hold the last values for a second, to see them
        frame = pd.concat([frame, frame[frame.s == end - 1].assign(s=end)])
        prices = frame.drop_duplicates("s")
        top = figure(title=title, height=250, width=800, y_axis_label="BTC_USDC bid")
        top.step(prices.s, prices.bid.astype(float), mode="after", color="grey")
        bottom = figure(height=200, width=800, x_range=top.x_range, y_axis_label=" / ".join(lower))
        colors = iter(["navy", "teal", "purple", "olive"])
        for (account, rows), col in [(a, c) for a in frame.groupby("account") for c in lower]:
            y, label = rows[col].astype(float), f"{account} {col}"
            bottom.step(rows.s, y, mode="after", color=next(colors), legend_label=label)
        dashes = iter(["red", "darkorange", "brown", "magenta"])
        for p, lines in ((top, price_lines), (bottom, lower_lines)):
            for label, y in (lines or {}).items():
                color = next(dashes)
                p.line([0, end], [float(y)] * 2, dash="dashed", color=color, legend_label=label)
        bid_at = dict(zip(prices.s, prices.bid, strict=True))
        symbol_of = {(e["account"], e["ref"]): e["symbol"] for e in events if e["type"] == "opened"}
        for ev in events:
            s = (ev["t"] - T0) // SEC
            kind = "written_off" if "written_off" in ev else ev.get("reason", ev["type"])
            if kind not in MARKERS:
                continue
            marker, color = MARKERS[kind]
            on_btc = symbol_of.get((ev["account"], ev.get("ref"))) == "BTC_USDC"
            y = ev["price"] if on_btc else bid_at[s]  # other symbols: at the time, on the bid
            top.scatter([s], [float(y)], marker=marker, color=color, size=14, legend_label=kind)
            for field in ("margin_level", "balance"):  # on the lower chart too, if it has it
                if field in lower and field in ev:
                    bottom.scatter([s], [float(ev[field])], marker=marker, color=color, size=14)
        for p in (top, bottom):
            p.legend.location = "top_right"
            p.legend.background_fill_alpha = 0.6
        show(column(top, bottom))
    """),
    md("""
    ## 1. Isolated liquidation: the loss is capped at the margin

    Two isolated accounts each open the same 50x long of 100 USD at the ask 61837.7; one
    keeps a maintenance rate of 5 %, the other none. The price falls in steps. The 5 %
    account is liquidated as soon as 95 % of the margin is lost; the other only when all of
    it is, and a quote that jumps past its liquidation price costs it no more than the
    margin.
    """),
    code("""
    def step(bid, symbol="BTC_USDC", spread="0.1"):
        return ("quote", symbol, bid, str(Decimal(bid) + Decimal(spread)))


    long_100_at_50x = ("BTC_USDC", "long", "50", {"margin": "100", "ref": "long"})
    events, frame, liquidation = play(
        {"rate 0": {}, "rate 0.05": {"maintenance_rate": "0.05"}},
        [
            step("61837.6"),
            ("open", "rate 0", *long_100_at_50x),
            ("open", "rate 0.05", *long_100_at_50x),
            *map(step, ["61500.0", "61200.0", "60900.0", "60650.0", "60500.0", "60400.0"]),
        ],
    )
    opened = next(e for e in events if e["type"] == "opened" and e["account"] == "rate 0")
    closed = next(e for e in events if e["type"] == "closed" and e["account"] == "rate 0")
    upnl = Decimal(opened["qty"]) * (Decimal(closed["price"]) - Decimal(opened["price"]))
    print("liquidation prices:", ", ".join(f"{k} {v}" for k, v in liquidation.items()))
    print(
        f"rate 0 at {closed['price']}: upnl {upnl}, but the close charges {closed['pnl']}, "
        f"the margin of {opened['margin']}: the loss is capped"
    )
    lines = {f"liquidation price ({k})": v for k, v in liquidation.items()}
    floor = {"5000 - 100 margin: the lowest equity": 4900}
    chart("1. Isolated liquidation", events, frame, ["equity"], lines, floor)
    """),
    md("""
    ## 2. Cross margin call

    A cross account with 1,000 USD holds a 100x long of 0.5 BTC (margin 300) and a 50x
    short of 2 ETH (margin 100). Only BTC moves. Each time the margin level (equity / used
    margin) falls to 60 % or below, the engine emits one `margin_call`; it closes nothing,
    and it fires again only after the level has been back above 60 %.
    """),
    code("""
    def two_positions(account):  # a BTC long at 100x and an ETH short at 50x
        return [
            step("59999.9"),
            step("2500.00", "ETH_USDC", "0.01"),
            ("open", account, "BTC_USDC", "long", "100", {"qty": "0.5", "ref": "btc"}),
            ("open", account, "ETH_USDC", "short", "50", {"qty": "2", "ref": "eth"}),
        ]


    events, frame, _ = play(
        {"bob": {"margin_mode": "cross", "balance": "1000"}},
        [*two_positions("bob"), *map(step, ["59000", "58500", "58400", "58700", "58300"])],
    )
    calls = [e["margin_level"] for e in events if e["type"] == "margin_call"]
    print(f"{len(calls)} margin calls, at {calls} %; still open: {frame.open_positions.iloc[-1]}")
    lines = {"margin call 60 %": 60, "stop-out 0 %": 0}
    chart("2. Cross margin call", events, frame, ["margin_level"], lower_lines=lines)
    """),
    md("""
    ## 3. Cross stop-out: worst position first

    The same BTC long, now with a 50x **long** of 2 ETH, in an account whose stop-out level
    is 50 %. When a quote takes the level to 50 % or below, the engine closes the position
    with the lowest unrealised PnL (BTC), recomputes the level, and stops as soon as it is
    back above 50 %: the ETH long stays open.
    """),
    code("""
    events, frame, _ = play(
        {"carol": {"margin_mode": "cross", "balance": "1000", "stop_out_level": "50"}},
        [
            step("59999.9"),
            step("2500.00", "ETH_USDC", "0.01"),
            ("open", "carol", "BTC_USDC", "long", "100", {"qty": "0.5", "ref": "btc"}),
            ("open", "carol", "ETH_USDC", "long", "50", {"qty": "2", "ref": "eth"}),
            *map(step, ["59500.0", "59000.0", "58500.0", "58250.0", "58300.0"]),
        ],
    )
    out = [e for e in events if e.get("reason") == "stop_out"]
    print(
        f"stopped out: {[e['ref'] for e in out]} (pnl {[e['pnl'] for e in out]}); "
        f"still open: {frame.open_positions.iloc[-1]} position, "
        f"margin level now {frame.margin_level.iloc[-1]:.2f} %"
    )
    lines = {"margin call 60 %": 60, "stop-out 50 %": 50}
    chart("3. Cross stop-out, worst first", events, frame, ["margin_level"], lower_lines=lines)
    """),
    md("""
    ## 4. Negative balance protection: a gap past zero

    The account of section 2, but the next BTC quote gaps from 59000 to 57000: the equity
    jumps from +500 to about −500 in one quote. The engine warns, stops out both positions
    (BTC first), and the balance left below zero is written off: a trader can lose the
    account's money, never more.
    """),
    code("""
    events, frame, _ = play(
        {"dave": {"margin_mode": "cross", "balance": "1000"}},
        [*two_positions("dave"), *map(step, ["59500.0", "59000.0", "57000.0", "57100.0"])],
    )
    last = [e for e in events if e["type"] == "closed"][-1]
    before = Decimal(last["balance"]) - Decimal(last["written_off"])
    print(
        f"balance {before} after the stop-outs, {last['written_off']} written off, "
        f"balance now {last['balance']}"
    )
    zero = {"0: the lowest balance": 0}
    chart("4. Negative balance protection", events, frame, ["equity", "balance"], None, zero)
    """),
]

# ---------------------------------------------------------------------------------------
STRATEGY = [
    md("""
    # A strategy on the real captures (or on simulated ticks)

    `workbench.backtest` runs a strategy through the same engine as the server. Here: the
    real Binance BTCUSDT captures of 2024-08-08/09 when they are beside the repository
    (`workbench.demo.shared_captures()`: `../shared/data`, or `$WORKBENCH_SHARED_DATA`),
    read directly from their `.ws.gz` files; otherwise **simulated** ticks from
    `SyntheticFeed`. The first output line says which.
    """),
    code("""
    from decimal import Decimal

    import polars as pl
    from bokeh.io import output_notebook, show

    from workbench.backtest import Strategy, backtest
    from workbench.demo import sample_ticks

    output_notebook(hide_banner=True)
    pl.Config.set_tbl_rows(25)
    # the real captures when they are beside the repository (imported in memory by
    # backtest), else simulated ticks; the line printed says which
    data, symbol, which = sample_ticks(seed=7, quotes=20_000)
    print(which)
    """),
    md("""
    ## The strategy

    A bracket: every position gets a take profit and a stop loss `band` away from its open
    price. After a close it enters again, the same way after a win and the other way after
    a loss. Hooks receive the engine's events; commands issued from them run right after
    the quote that caused the event.
    """),
    code("""
    class FlipOnLoss(Strategy):
        def __init__(self, band="0.0005", leverage="20", margin="100"):
            self.band, self.leverage, self.margin = Decimal(band), leverage, margin
            self.side = "long"

        def on_start(self, ctx):
            self.enter(ctx)

        def on_event(self, ctx, ev):
            if ev["type"] == "closed":
                if Decimal(ev["pnl"]) < 0:
                    self.side = "short" if self.side == "long" else "long"
                self.enter(ctx)

        def enter(self, ctx):
            symbol = ctx.symbols[0]
            q, tick = ctx.last_quote(symbol), ctx.instrument(symbol).tick_size
            price = q["ask"] if self.side == "long" else q["bid"]
            up, down = price * (1 + self.band), price * (1 - self.band)
            tp, sl = (up, down) if self.side == "long" else (down, up)
            ctx.open(
                symbol,
                self.side,
                self.leverage,
                margin=self.margin,
                take_profit=tp.quantize(tick),
                stop_loss=sl.quantize(tick),
            )


    result = backtest(FlipOnLoss(), data, symbols=[symbol])
    print(result)
    result.stats.transpose(include_header=True, column_names=["value"])
    """),
    md("## Every closed position (exact PnL)"),
    code("""
    result.closed.select("ref", "side", "open_price", "close_price", "reason", "qty", "pnl", "net")
    """),
    code("show(result.plot())"),
    md("""
    ## Reading the numbers

    The take profit and the stop loss are the same distance from the open price, so a win
    and a loss are about the same size (a quote that jumps past a trigger fills beyond it).
    The spread shows in the odds instead: a long opens at the ask but closes at the bid, so
    the bid must travel the band *plus* the spread to take the profit and the band *minus*
    the spread to stop out. With wins and losses of equal size, breaking even needs a win
    rate of about 50 %. Leverage does not move the triggers; it only sets the size bought
    with the same margin. The Sharpe ratio is annualised from one-minute samples: over
    minutes of data it says little.
    """),
    code("""
    def usd(x):
        return f"{x.normalize():f} USD"


    s = result.stats.row(0, named=True)
    nets = result.closed["net"].to_list()  # exact Decimals
    wins, losses = [n for n in nets if n > 0], [-n for n in nets if n <= 0]
    avg_win = sum(wins) / len(wins) if wins else Decimal(0)
    avg_loss = sum(losses) / len(losses) if losses else Decimal(0)
    print(
        f"{s['trades']} trades: {s['take_profits']} take profits, {s['stop_losses']} stop "
        f"losses, {s['liquidations']} liquidations; win rate {s['win_rate']:.0%}.\\n"
        f"Average win {usd(round(avg_win, 4))}, average loss {usd(round(avg_loss, 4))}: "
        f"breaking even needs a win rate of {avg_loss / (avg_win + avg_loss):.0%}.\\n"
        f"PnL {usd(s['pnl'])} on {usd(s['start_balance'])}: return {s['return']:+.3%}, "
        f"max drawdown {s['max_drawdown']:.3%} ({usd(s['max_drawdown_usd'])}), "
        f"over {result.quotes:,} quotes."
    )
    """),
]

# ---------------------------------------------------------------------------------------
PAPER_TRADE = [
    md("""
    # Paper-trade against a running server

    This notebook starts its own `workbench serve --feed synthetic` (SIMULATED prices, no
    network) on a free port with its data in a temporary directory, then trades through
    `workbench.client.Client`: register, open and close positions, read orders and the
    balance as DataFrames, and stream quotes and events over the WebSocket. The last cell
    stops the server; if the notebook stops early, the server is killed when the kernel
    exits.
    """),
    code("""
    import atexit
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import time
    from decimal import Decimal
    from pathlib import Path

    import polars as pl

    from workbench.client import Client

    tmp = tempfile.TemporaryDirectory(prefix="wb-serve-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = Path(tmp.name) / "server.log"
    command = [sys.executable, "-m", "workbench", "serve", "--feed", "synthetic"]
    command += ["--port", str(port), "--data-dir", tmp.name]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


    def stop_early():  # if a cell fails, the server goes when the kernel exits
        server.kill()
        server.wait(10)
        tmp.cleanup()


    atexit.register(stop_early)

    c = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            health = c.health()
            break
        except ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\\n{log.read_text()}") from None
            time.sleep(0.2)
    feed = health["feed"]
    print(f"server up at {c.base_url}: feed {feed['state']}, {feed['message']}")
    """),
    md("## Register, and look at the prices"),
    code("""
    user = c.register("trader@example.com", "correct horse battery staple")
    print(f"registered {user['email']} ({c.me()['margin_mode']} margin)")
    c.prices()
    """),
    md("""
    ## Open two positions

    Sizes and prices go out as exact decimal text; a float would be refused. The server
    prices the order from its own quotes, never from the client.
    """),
    code("""
    def show_order(what, o):
        price = o["closingPrice"] if o["status"] == "closed" else o["openingPrice"]
        pnl = f", pnl {o['pnl']}" if o["pnl"] is not None else ""
        print(
            f"{what} order {o['id'][:8]}: {o['side']} {o['qty']} {o['asset']} at {price}, "
            f"margin {o['margin']}{pnl}"
        )


    bid = c.prices().filter(pl.col("symbol") == "BTC_USDC")["bid"][0]
    stop = (bid * Decimal("0.95")).quantize(Decimal("0.1"))
    btc = c.open("BTC_USDC", "long", 20, margin="100", stop_loss=stop)
    eth = c.open("ETH_USDC", "short", 10, qty="0.5")
    for o in (btc, eth):
        show_order("opened", o)
    c.positions().select(
        "asset", "side", "qty", "openingPrice", "margin", "upnl", "liquidationPrice", "stopLoss"
    )
    """),
    md("""
    ## Stream quotes and our own events

    `Client.stream(symbols, timeout=...)` subscribes over `/ws`; with a token the socket
    also carries this user's engine events. We close the ETH short while it is open and
    read until its `closed` event has come, along with a few quotes.
    """),
    code("""
    messages = []
    with c.stream(["BTC_USDC", "ETH_USDC"], timeout=10) as stream:
        print(f"subscribed to {stream.symbols}, feed {stream.welcome['feed']}")
        show_order("closed", c.close(eth["id"]))
        for msg in stream:
            messages.append(msg)
            kinds = [m["type"] for m in messages]
            if "closed" in kinds and kinds.count("quote") >= 4:
                break
    shown = ["type", "symbol", "bid", "ask", "ref", "reason", "price", "pnl", "balance"]
    for msg in messages:
        print({k: msg[k] for k in shown if k in msg})
    """),
    md("## Close the rest; orders and balance as DataFrames"),
    code("""
    show_order("closed", c.close(btc["id"]))
    c.orders().select("asset", "side", "qty", "openingPrice", "closingPrice", "closeReason", "pnl")
    """),
    code("""
    balance = c.balance()
    shown = ["balance", "equity", "used_margin", "free_margin", "margin_mode", "open_positions"]
    pl.DataFrame([{k: balance[k] for k in shown}])
    """),
    md("## Stop the server (Ctrl-C, as a user would: it journals everything first)"),
    code("""
    c.disconnect()
    server.send_signal(signal.SIGINT)
    print("server stopped with exit code", server.wait(30))
    print(log.read_text().strip().splitlines()[-1])
    tmp.cleanup()
    """),
]

# ---------------------------------------------------------------------------------------
SWEEP = [
    md("""
    # A parameter sweep

    `workbench.backtest.sweep` runs one backtest per parameter set (and symbol, and date
    range) in a local pool of worker processes and returns one polars table, one row per
    run. The strategy is `examples.Bracket`: a position with a take profit and a stop loss
    `band` away, entered again after each close. The grid is band × side × leverage, on
    the real BTCUSDT captures when they are there, otherwise on **simulated** ticks; the
    first output line says which.
    """),
    code("""
    import math

    import polars as pl
    from bokeh.io import output_notebook, show
    from bokeh.models import ColorBar
    from bokeh.palettes import RdYlGn11
    from bokeh.plotting import figure
    from bokeh.transform import linear_cmap

    from workbench.backtest import sweep
    from workbench.backtest.examples import Bracket
    from workbench.demo import sample_ticks

    output_notebook(hide_banner=True)
    pl.Config.set_tbl_rows(25)
    data, symbol, which = sample_ticks(seed=7, quotes=20_000)  # real captures, or simulated
    print(which)
    """),
    md("""
    ## Run the grid on two worker processes

    The ticks are written once as Parquet partitions and each worker reads the files; the
    strategy class comes from a module (`workbench.backtest.examples`) so it pickles. (Ray
    would run the same tasks on a cluster: `ray="auto"`; it takes seconds to start.)
    """),
    code("""
    grid = {
        "band": ["0.0002", "0.0005", "0.001", "0.002"],
        "side": ["long", "short"],
        "leverage": ["10", "50"],
    }
    table = sweep(Bracket, grid, data, symbols=[symbol], workers=2, progress=False)
    points = math.prod(len(values) for values in grid.values())
    print(f"{points} grid points -> {table.height} rows, one backtest each")
    table.select("band", "side", "leverage", "trades", "win_rate", "pnl", "return", "max_drawdown")
    """),
    md("""
    ## Return over the grid

    The margin per trade is fixed (100 USD), so leverage sets the size: for a given band and
    side the same trades happen and the return scales with the leverage. The side decides
    the sign on a market that trends; the band decides how many trades there are.
    """),
    code("""
    cells = table.with_columns(
        row=pl.col("side") + " " + pl.col("leverage") + "x", pct=pl.col("return") * 100
    ).with_columns(label=pl.col("pct").round(3).cast(pl.String) + " %")
    rows = [f"{side} {lev}x" for side in grid["side"] for lev in grid["leverage"]]
    p = figure(x_range=grid["band"], y_range=rows, height=320, width=640, toolbar_location=None)
    p.title.text = f"return of Bracket on {symbol}"
    p.xaxis.axis_label, p.yaxis.axis_label = "band", "side, leverage"
    lim = max(cells["pct"].abs().max(), 1e-9)  # symmetric: 0 % is yellow
    colors = linear_cmap("pct", RdYlGn11[::-1], low=-lim, high=lim)  # red losses, green gains
    source = cells.select("band", "row", "pct", "label").to_dict(as_series=False)
    r = p.rect("band", "row", 1, 1, source=source, fill_color=colors, line_color="white")
    p.text("band", "row", text="label", source=source, text_align="center", text_baseline="middle")
    p.add_layout(ColorBar(color_mapper=r.glyph.fill_color.transform, title="return %"), "right")
    show(p)
    """),
]

NOTEBOOKS = {
    "01_record_and_explore.ipynb": RECORD_AND_EXPLORE,
    "02_liquidation_rules.ipynb": LIQUIDATION_RULES,
    "03_strategy_on_real_captures.ipynb": STRATEGY,
    "04_paper_trade_with_client.ipynb": PAPER_TRADE,
    "05_parameter_sweep.ipynb": SWEEP,
}


def build(name: str) -> NotebookNode:
    """The notebook `name`, without outputs and with stable cell ids."""
    nb = new_notebook(cells=copy.deepcopy(NOTEBOOKS[name]))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def text(name: str) -> str:
    """What `write_all` writes for `name`."""
    return nbformat.writes(build(name)) + "\n"


def write_all() -> list[Path]:
    paths = []
    for name in NOTEBOOKS:
        path = HERE / name
        path.write_text(text(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all():
        print("wrote", p)
