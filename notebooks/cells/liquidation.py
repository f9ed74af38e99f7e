"""Notebook 02, its set-up and sections 1 to 4: the liquidation rules (docs/rules.md 9 to 11)."""

from __future__ import annotations

from . import code, md

CELLS = [
    md("""
    # The rules on charts: liquidation, and orders beyond the market order

    Five scripted markets drive the engine directly (`workbench.engine.Engine`), one step
    a second. The first four are the worked examples of docs/rules.md (sections 9 to 11):

    1. **isolated liquidation**: the loss is capped at the position's margin;
    2. **cross margin call**: a warning, re-armed once the level recovers;
    3. **cross stop-out**: the worst position is closed first, until the level recovers;
    4. **negative balance protection**: a gap past zero is written off;

    and the fifth shows the orders of sections 17 and 18:

    5. **a buy limit, a trailing stop and a partial close**: the limit fills on a dip at a
       better price, the trailing stop follows the price up and closes the position, and
       half of another position is closed.

    Every number printed comes from the engine's events and views (exact decimals). The
    charts show the price with a marker where each event happens and the account's
    figures below; in section 5 the price chart also carries the order's price and the
    trailing level, and a table lists the events.
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
    SHOWN = ["account", "ref", "symbol", "side", "kind", "order", "reason", "price", "qty"]
    SHOWN += ["remaining_qty", "margin", "trailing_stop", "pnl", "balance", "written_off"]
    SHOWN += ["margin_level", "message"]


    def describe(ev):
        fields = "  ".join(f"{k} {ev[k]}" for k in SHOWN if k in ev)
        return f"{(ev['t'] - T0) // SEC:>3} s  {ev['type']:<13}{fields}"


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
