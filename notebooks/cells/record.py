"""Notebook 01: record a feed from a local fake Backpack, then explore the ticks."""

from __future__ import annotations

from . import code, md

CELLS = [
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
