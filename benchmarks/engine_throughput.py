"""Replay throughput of the engine with many open TP/SL positions, isolated and cross.

Two runs over 3 instruments, one process, one core:
- flat: brackets 10-13 % away at 5x (isolated liquidation 20 % away), so no quote
  triggers anything: the per-quote cost with 1k, 10k and 100k open positions (it
  should not grow);
- fills: brackets 1-4 % away at 20x (liquidation 5 % away), so many positions close:
  quotes/s and the cost of each fill over the flat run: the CPU time of the whole run
  minus the flat run's, per fill (the fills come in a few cascades, unevenly spread over
  the three batches, so the median batch would not say what a fill costs; CPU time, as
  this process may wait for a core on a shared machine).
- pending: 1k vs 100k pending limit and stop orders 10-13 % away, none filled: the
  per-quote cost must not grow with what waits (target <= 1.2x);
- trailing: 100k open positions with trailing stops 15-18 % away, opened over a moving
  market (so their anchors differ), vs none: target <= 2x per quote.
The last line is the ratio of the worst 10k-position figure to 1,000,000 quotes/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _quotes import interleaved  # noqa: E402

from workbench.engine import Engine  # noqa: E402

TARGET = 1_000_000
T0 = 1_723_161_254_000_000
SYMBOLS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def build(n_positions: int, mode: str, seed: int, band: int, leverage: str) -> Engine:
    """An engine with n open positions, TP/SL band..band+3 % away, over 100 accounts."""
    eng = Engine()
    sids = {s: eng.symbol_id(s) for s in SYMBOLS}
    s, t, b, a = interleaved(sids, 3, seed=seed, t0=T0)
    eng.feed_quotes(s, t, b, a)
    n_accounts = 100
    for i in range(n_accounts):
        eng.create_account(f"acct{i}", margin_mode=mode, balance="1000000000")
    for i in range(n_positions):
        sym = SYMBOLS[i % 3]
        q = eng.last_quote(sym)
        assert q is not None
        mid = (q["bid"] + q["ask"]) / 2
        d = Decimal(band + i % 4) / 100
        long = i % 2 == 0
        tp = mid * (1 + d) if long else mid * (1 - d)
        sl = mid * (1 - d) if long else mid * (1 + d)
        ev = eng.open(
            f"acct{i % n_accounts}", sym, "long" if long else "short", leverage, margin="10",
            take_profit=f"{tp:.2f}", stop_loss=f"{sl:.2f}", t=eng.now,
        )  # fmt: skip
        assert ev is not None and ev["type"] == "opened", ev
    return eng


def build_waiting(n: int, kind: str, seed: int = 7) -> Engine:
    """n pending orders (kind "pending") or n trailing-stop positions (kind "trailing")
    over 100 accounts, placed while the market moves (a quote every 100), none near."""
    eng = Engine()
    sids = {s: eng.symbol_id(s) for s in SYMBOLS}
    s, t, b, a = interleaved(sids, 3 + n // 100, seed=seed, t0=T0)
    eng.feed_quotes(s[:3], t[:3], b[:3], a[:3])
    for i in range(100):
        eng.create_account(f"acct{i}", balance="1000000000")
    for i in range(n):
        if i % 100 == 99:
            k = 3 + i // 100
            eng.feed_quotes(s[k : k + 1], t[k : k + 1], b[k : k + 1], a[k : k + 1])
        sym = SYMBOLS[i % 3]
        q = eng.last_quote(sym)
        assert q is not None
        d = Decimal(10 + i % 4) / 100
        long = i % 2 == 0
        side = "long" if long else "short"
        if kind == "pending":
            below = (i // 2) % 2 == 0  # limits below the ask for longs, stops above...
            ref_price = q["ask"] if long else q["bid"]
            price = ref_price * (1 - d) if below else ref_price * (1 + d)
            order_kind = ("limit" if below else "stop") if long else ("stop" if below else "limit")
            ev = eng.order(f"acct{i % 100}", sym, side, order_kind, f"{price:.2f}", "5",
                           margin="10", t=eng.now)  # fmt: skip
        else:
            dist = (q["bid"] * (d + Decimal("0.05"))).quantize(Decimal("0.1"))
            ev = eng.open(f"acct{i % 100}", sym, side, "5", margin="10",
                          trailing_stop=f"{dist}", t=eng.now)  # fmt: skip
        assert ev is not None and ev["type"] in ("order_placed", "opened"), ev
    return eng


def measure(
    n_positions: int, mode: str, n_quotes: int, band: int, leverage: str, seed: int = 7,
    kind: str = "",
) -> tuple[float, int, float]:  # fmt: skip
    """(median quotes/s, events, CPU seconds in all) of feeding n_quotes to an engine
    holding n_positions, in three batches."""
    if kind:
        eng = build_waiting(n_positions, kind, seed)
    else:
        eng = build(n_positions, mode, seed, band, leverage)
    sids = {s: eng.symbol_id(s) for s in SYMBOLS}
    s, t, b, a = interleaved(sids, n_quotes, seed=seed + 100, t0=eng.now + 1000)
    events = eng.seq
    rates = []
    total = 0.0
    third = n_quotes // 3
    for k in range(3):  # three consecutive batches: the median resists one hiccup
        part = slice(k * third, (k + 1) * third)
        start = time.perf_counter()
        cpu = time.process_time()
        eng.feed_quotes(s[part], t[part], b[part], a[part])
        total += time.process_time() - cpu
        rates.append(third / (time.perf_counter() - start))
    return sorted(rates)[1], eng.seq - events, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quotes", type=int, default=1_000_000)
    args = ap.parse_args()
    results: dict[tuple[str, str, int], float] = {}
    totals: dict[tuple[str, str, int], float] = {}
    for run, band, leverage in (("flat", 10, "5"), ("fills", 1, "20")):
        for mode in ("isolated", "cross"):
            for n in (1_000, 10_000, 100_000):
                qps, events, total = measure(n, mode, args.quotes, band, leverage)
                results[(run, mode, n)] = qps
                totals[(run, mode, n)] = total
                per_fill = ""
                if events >= 5_000 and run == "fills":
                    extra = total - totals[("flat", mode, n)]
                    per_fill = f", {extra / events * 1e6:.1f} us/fill"
                print(f"{run:5s} {mode:8s} {n:>7,} open: {qps:>11,.0f} quotes/s "
                      f"{1e9 / qps:6.0f} ns/quote ({events:,} fills{per_fill})")  # fmt: skip
    for mode in ("isolated", "cross"):
        growth = results[("flat", mode, 1_000)] / results[("flat", mode, 100_000)]
        print(f"{mode}: per-quote cost, 100k vs 1k open positions, no fills: {growth:.2f}x")
    base = measure(0, "isolated", args.quotes, 10, "5")[0]
    for kind, target in (("pending", 1.2), ("trailing", 2.0)):
        small = measure(1_000, "isolated", args.quotes, 10, "5", kind=kind)
        big = measure(100_000, "isolated", args.quotes, 10, "5", kind=kind)
        ref = small[0] if kind == "pending" else base
        what = "1k" if kind == "pending" else "none"
        print(f"{kind}: {1e9 / big[0]:.0f} ns/quote with 100k vs {1e9 / ref:.0f} with {what} "
              f"({big[1]:,} fills): {ref / big[0]:.2f}x (target <= {target}x)")  # fmt: skip
    worst = min(results[(r, m, 10_000)] for r in ("flat", "fills") for m in ("isolated", "cross"))
    print(f"ratio: {worst / TARGET:.2f} (10k positions, worst mode, target {TARGET:,} quotes/s)")


if __name__ == "__main__":
    main()
