"""Notebook 02, section 5: a buy limit, a trailing stop and a partial close (docs/rules.md
sections 17 and 18) on a scripted market, drawn on one chart with a table of the events.

It uses the set-up cell of cells/liquidation.py (Engine, T0, SEC, describe, bokeh, pandas).
"""

from __future__ import annotations

from . import code, md

CELLS = [
    md("""
    ## 5. A buy limit, a trailing stop and a partial close

    Erin's isolated account (5,000 USD) buys 0.02 BTC at the market (`core`) and places a
    buy **limit** for 0.01 at 59800.0, below the ask, with a **trailing stop** of 250
    (`dip`). Nothing is reserved while the order waits. The ask then gaps from 59900.1 to
    59700.1, through the limit: the order fills at the ask, 59700.1, better than its own
    price. From the fill on, the trailing level is the highest bid since then minus 250: it
    rises with the bid and never falls. At the bid 60400.0 Erin closes half of `core`
    (event `reduced`); the other half stays open. The first bid at or below the level
    closes `dip` at that bid (reason `trailing_stop`).
    """),
    code("""
    eng = Engine()
    eng.create_account("erin")  # isolated, 5,000 USD
    events, rows = [], []  # rows: the quote and the trailing level after each second
    eng.subscribe(events.append)
    bids = ["60000.0", "59900.0", "59700.0", "59900.0", "60200.0"]
    bids += ["60400.0", "60300.0", "60500.0", "60240.0", "60300.0"]
    for s, bid in enumerate(bids):
        t = T0 + s * SEC
        eng.quote("BTC_USDC", t, bid, str(Decimal(bid) + Decimal("0.1")))
        if s == 0:  # a market buy, and a buy limit below the ask with a trailing stop
            eng.open("erin", "BTC_USDC", "long", "10", qty="0.02", ref="core", t=t)
            buy_limit = ("BTC_USDC", "long", "limit", "59800.0", "10")  # price, leverage
            eng.order("erin", *buy_limit, qty="0.01", trailing_stop="250", ref="dip", t=t)
        if s == 5:  # half of core, at the bid
            eng.close("erin", "core", qty="0.01", t=t)
        quote = eng.last_quote("BTC_USDC")
        level = {p["ref"]: p["trailing_level"] for p in eng.positions("erin")}
        rows.append({"s": s, "bid": quote["bid"], "ask": quote["ask"], "level": level.get("dip")})
    for ev in events:
        print(describe(ev))


    def second(ev):
        return (ev["t"] - T0) // SEC


    placed = next(e for e in events if e["type"] == "order_placed")
    filled = next(e for e in events if e.get("order") == "limit")
    part = next(e for e in events if e["type"] == "reduced")
    out = next(e for e in events if e["type"] == "closed")
    before, better = rows[second(filled) - 1], Decimal(placed["price"]) - Decimal(filled["price"])
    print(
        f"the buy limit at {placed['price']} filled at the ask {filled['price']}: the ask gapped "
        f"from {before['ask']} through it, and the fill is {better} better"
    )
    levels = [f"{r['s']} s {r['level']}" for r in rows if r["level"] is not None]
    print(f"trailing level after each second: {', '.join(levels)}")
    hit = rows[second(out) - 1]["level"]
    print(
        f"{out['ref']} closed at {out['price']} (the level was {hit}), reason {out['reason']}, "
        f"pnl {out['pnl']}"
    )
    rest = eng.positions("erin")[0]
    print(
        f"{part['ref']} reduced by {part['qty']} at {part['price']}: pnl {part['pnl']}; it keeps "
        f"{rest['qty']} at {rest['open_price']} with margin {rest['margin']}"
    )
    """),
    md("""
    On the chart: the bid and the ask (0.1 apart), the limit's price while it waits, the
    trailing level from the fill to the exit, and a marker at each fill and exit, at the
    price the engine used.
    """),
    code("""
    MARK = {"opened": ("triangle", "green"), "reduced": ("square", "orange")}
    MARK["closed"] = ("x", "red")
    end = len(rows)  # hold the last quote for a second, to see it
    x = [r["s"] for r in rows] + [end]
    title = "5. A buy limit, a trailing stop, a partial close"
    p = figure(title=title, height=320, width=980, x_axis_label="s", y_axis_label="BTC_USDC")
    for side, color, width in (("bid", "grey", 4), ("ask", "orange", 1)):  # 0.1 apart
        y = [float(r[side]) for r in rows]
        p.step(x, y + y[-1:], mode="after", color=color, line_width=width, legend_label=side)
    waiting = f"buy limit {placed['price']}, waiting"
    limit = [float(placed["price"])] * 2
    at = [second(placed), second(filled)]
    p.line(at, limit, color="green", dash="dashed", legend_label=waiting)
    trail = [(r["s"], float(r["level"])) for r in rows if r["level"] is not None]
    trail.append((second(out), trail[-1][1]))
    label = f"trailing level: highest bid - {filled['trailing_stop']}"
    p.step(*zip(*trail, strict=True), mode="after", color="red", dash="dotted", legend_label=label)
    for ev in events:
        if ev["type"] in MARK:
            marker, color = MARK[ev["type"]]
            label = ev["type"] + (f" ({ev['reason']})" if "reason" in ev else "")
            y = float(ev["price"])
            p.scatter([second(ev)], [y], marker=marker, color=color, size=14, legend_label=label)
    p.add_layout(p.legend[0], "right")  # beside the plot: the chart has no empty corner
    show(p)
    table = pd.DataFrame(events).assign(s=lambda f: (f.t - T0) // SEC)
    shown = ["s", "type", "ref", "kind", "order", "reason", "price", "qty", "remaining_qty"]
    table[shown + ["pnl", "balance"]].fillna("")
    """),
]
