"""Notebook 04: paper-trade through workbench.client against a server it starts."""

from __future__ import annotations

from . import code, md

CELLS = [
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
