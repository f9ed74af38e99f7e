"""Notebook 06: the same Strategy class backtested, then paper-traded live, then compared."""

from __future__ import annotations

from . import code, md

CELLS = [
    md("""
    # The same strategy, backtested and then live

    A strategy written for `backtest()` runs unchanged against a server: `run_live` (or
    `workbench paper` from the shell) hands it the server's quotes and its account's
    events over the WebSocket and sends its orders over REST with the account's token, so
    its trades are that user's, on the dashboard too. Here `examples.Bracket` is first
    backtested on two minutes of recorded ticks (the real BTCUSDT captures when they are
    there, otherwise **simulated** ticks; the first output line says which), then traded
    live on a server this notebook starts, which replays the very same ticks, and the two
    results are compared.
    """),
    code("""
    import atexit
    import logging
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import threading
    import time
    from datetime import UTC, datetime
    from pathlib import Path

    import polars as pl
    from bokeh.io import output_notebook, show

    from workbench.backtest import backtest
    from workbench.backtest.examples import Bracket
    from workbench.backtest.live import LiveRunner
    from workbench.client import Client
    from workbench.demo import sample_ticks
    from workbench.feeds.synthetic import SyntheticFeed
    from workbench.importers.hftbacktest import import_captures
    from workbench.store.schema import connect

    output_notebook(hide_banner=True)
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")
    logging.getLogger("workbench.live").setLevel(logging.INFO)  # each event as it comes
    data, symbol, which = sample_ticks(seed=7, quotes=20_000)  # real captures, or simulated
    print(which)
    """),
    md("""
    ## The backtest

    The ticks go into the tick store of the server's data directory (a temporary one), so
    that the backtest and the server read the same quotes. The window is two minutes, 30 s
    after the first quote; the strategy keeps one long open with its take profit and stop
    loss 0.03 % away, and enters again after each close.
    """),
    code("""
    tmp = tempfile.TemporaryDirectory(prefix="wb-live-")
    store = Path(tmp.name) / "workbench.duckdb"
    con = connect(store)
    if isinstance(data, list):  # the real captures: *.ws.gz files
        import_captures(con, data)
    else:  # SIMULATED: the same seed writes the same quotes
        SyntheticFeed([symbol], seed=7).write(con, 20_000)
    first = con.execute("SELECT min(t) FROM quotes WHERE symbol = ?", [symbol]).fetchone()[0]
    con.close()
    start, end = first + 30_000_000, first + 150_000_000  # µs: two minutes
    params = {"band": "0.0003", "margin": "100", "leverage": "10"}
    tested = backtest(Bracket(**params), store, symbols=[symbol], start=start, end=end)
    print(f"backtest: {tested.quotes:,} quotes, {tested.stats['trades'][0]} trades")
    tested.closed.select("ref", "open_time", "open_price", "close_price", "reason", "pnl").head(5)
    """),
    md("""
    ## A server replaying the same ticks

    `workbench serve --feed replay:SYMBOL@FROM..TO --speed 8` plays the stored quotes at 8×
    their pace, stamping every order with the replay's time, after a 6 s delay that lets
    the strategy connect first. It runs on a free port with its data in the temporary
    directory; the last cell stops it (if the notebook stops early, it is killed when the
    kernel exits).
    """),
    code("""
    def iso(us):
        return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    speed = 8
    replay = f"replay:{symbol}@{iso(start)}..{iso(end)}"
    command = [sys.executable, "-m", "workbench", "serve", "--port", str(port)]
    command += ["--data-dir", tmp.name, "--feed", replay, "--speed", str(speed)]
    command += ["--replay-delay", "6"]
    log = Path(tmp.name) / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    atexit.register(lambda: server.poll() is None and server.kill())

    c = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            feed = c.health()["feed"]
            break
        except ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\\n{log.read_text()}") from None
            time.sleep(0.2)
    print(f"server up at {c.base_url}: {feed['state']}, {feed['message']}")
    """),
    md("""
    ## The same class, live

    A user registers; `LiveRunner(Bracket, url, token=..., params=...)` is what
    `run_live` builds. `run()` trades until `stop()` (here: when the server says the
    replay is over), a `duration` or Ctrl-C, and returns a `Result` like a backtest's.
    Each event the strategy is handed is logged as it comes (`workbench.live` at INFO).
    """),
    code("""
    c.register("bot@example.com", "correct horse battery staple")
    runner = LiveRunner(Bracket, c.base_url, token=c.token, symbols=[symbol], params=params)


    def stop_when_replayed():
        with Client(c.base_url) as watch:
            while not watch.health()["feed"].get("finished"):
                time.sleep(0.25)
        time.sleep(1)  # the last quotes reach the strategy
        runner.stop()


    threading.Thread(target=stop_when_replayed, daemon=True).start()
    live = runner.run(duration=(end - start) / 1e6 / speed + 60)
    print(f"live: {live.quotes:,} quotes, {live.stats['trades'][0]} trades")
    """),
    md("""
    ## The trades are the account's

    The server's own history (`GET /trade/orders`, what the dashboard shows this user) has
    every trade of the run, and the live `Result` says the same, figure for figure.
    `live.ids` maps the strategy's refs (`o1`, `o2`...) to the server's order ids.
    """),
    code("""
    history = c.orders().filter(pl.col("status") == "closed")
    mine = live.closed.with_columns(id=pl.col("ref").replace_strict(live.ids))
    same = mine.join(history, on="id").filter(
        (pl.col("open_price") == pl.col("openingPrice"))
        & (pl.col("close_price") == pl.col("closingPrice"))
        & (pl.col("pnl") == pl.col("pnl_right"))
    )
    matches = same.height == history.height == mine.height
    print(f"the server's history has {history.height} closed orders; ", end="")
    print(f"history matches the live Result: {matches}")
    """),
    md("""
    ## Backtest and live side by side

    Same class, same parameters, same ticks. Where they differ it is the live market's
    doing: in the backtest an order placed from `on_event` runs at the very quote that
    closed the last position; live, it travels to the server and fills at the quote the
    server has when it arrives, a few quotes later at 8× speed, so the brackets sit
    elsewhere and the trades drift apart.
    """),
    code("""
    shown = ["trades", "take_profits", "stop_losses", "win_rate", "pnl", "return"]
    shown += ["max_drawdown", "rejected"]
    side = pl.concat([tested.stats.select(shown), live.stats.select(shown)])
    side = side.insert_column(0, pl.Series("run", ["backtest", "live"]))
    with pl.Config(tbl_cols=-1, tbl_width_chars=150, tbl_hide_dataframe_shape=True):
        print(side.with_columns(pl.col("pnl").cast(pl.Decimal(38, 2))))
    a, b = tested.closed.row(0, named=True), live.closed.row(0, named=True)
    when = "%H:%M:%S.%f"
    print(f"first entry: backtest {a['open_price']} at {a['open_time']:{when}}, ", end="")
    print(f"live {b['open_price']} at {b['open_time']:{when}}")
    show(live.plot())
    """),
    md("## Stop the server"),
    code("""
    c.disconnect()
    server.send_signal(signal.SIGINT)
    print(f"server stopped with exit code {server.wait(30)}")
    tmp.cleanup()
    """),
]
