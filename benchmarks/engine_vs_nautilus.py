"""Our engine against NautilusTrader's BacktestEngine on the same work, in the same run.

The bracket workload of engine_vs_backtrader.py: 200,000 quotes of one instrument (a
seeded random walk, 1 tick spread), one position at a time: market entry long with a
0.3 % take-profit / 0.3 % stop-loss bracket, re-entered on exit. Both engines get the
same bid/ask quotes: ours as int lists through `feed_quotes`, NautilusTrader as
`QuoteTick`s of a zero-fee linear perpetual on a margin account at 10x leverage.

Timed, ours: the `feed_quotes` calls with the re-entering listener (engine and account
built before). Timed, NautilusTrader: `BacktestEngine.run()` only (the QuoteTicks, the
engine, venue, instrument, data and strategy are all built before). Each side runs
`--repeat` times; the medians are printed. The last line is `ratio: <ours / nautilus>`.

NautilusTrader's pins (pandas < 3, uvloop 0.22.1) clash with ours, so this runs from its
own venv (see benchmarks/README.md):
    .venv-bench/bin/python benchmarks/engine_vs_nautilus.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _quotes import random_walk  # noqa: E402
from engine_vs_backtrader import run_ours  # noqa: E402  (the same workload, our side)

T0 = 1_723_161_254_000_000  # µs
SYMBOL = "BTC_USDC"
BAND = Decimal("0.003")
TICK = Decimal("0.1")
QTY = "0.1"
LEVERAGE = 10
BALANCE = 1_000_000


class Nautilus:
    """A BacktestEngine loaded with the quotes and a re-entering bracket strategy."""

    def __init__(self, bids: list[int], asks: list[int], orders: str = "oco") -> None:
        from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
        from nautilus_trader.config import LoggingConfig, StrategyConfig
        from nautilus_trader.core.uuid import UUID4
        from nautilus_trader.model.currencies import BTC, USDC
        from nautilus_trader.model.data import QuoteTick
        from nautilus_trader.model.enums import (
            AccountType,
            ContingencyType,
            OmsType,
            OrderSide,
            TriggerType,
        )
        from nautilus_trader.model.events import OrderFilled, PositionClosed
        from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, Symbol, Venue
        from nautilus_trader.model.instruments import CryptoPerpetual
        from nautilus_trader.model.objects import FIXED_SCALAR, Money, Price, Quantity
        from nautilus_trader.model.orders import LimitOrder, OrderList, StopMarketOrder
        from nautilus_trader.trading.strategy import Strategy

        venue = Venue("SIM")
        iid = InstrumentId(Symbol("BTCUSDC-PERP"), venue)
        # Like our BTC_USDC: 0.1 tick, no fees. With the account's 10x leverage and the
        # "leveraged" margin model, margin_maint=1 locks notional / 10 while the position
        # is open (600.02 USDC at 60,001.9), the same as our isolated margin.
        instrument = CryptoPerpetual(
            instrument_id=iid, raw_symbol=Symbol("BTCUSDC"),
            base_currency=BTC, quote_currency=USDC, settlement_currency=USDC,
            is_inverse=False, price_precision=1, price_increment=Price.from_str("0.1"),
            size_precision=3, size_increment=Quantity.from_str("0.001"),
            max_quantity=None, min_quantity=Quantity.from_str("0.001"),
            max_notional=None, min_notional=None, max_price=None, min_price=None,
            margin_init=Decimal(1), margin_maint=Decimal(1),
            maker_fee=Decimal(0), taker_fee=Decimal(0), ts_event=0, ts_init=0,
        )  # fmt: skip

        qty = instrument.make_qty(Decimal(QTY))

        def band(px: Decimal) -> tuple[Price, Price]:
            """The take-profit and stop-loss prices around an entry price, as ours."""
            tp, sl = (px * (1 + BAND)).quantize(TICK), (px * (1 - BAND)).quantize(TICK)
            return Price.from_str(str(tp)), Price.from_str(str(sl))

        class Bracket(Strategy):  # type: ignore[misc]
            """One long at a time with a TP/SL pair; a new one as soon as it closes.

            "oco": a market buy, then on its fill a reduce-only take-profit limit and
            stop-market linked one-updates-other, priced from the fill (the ask of the
            quote, as ours). "bracket": `order_factory.bracket` (market entry + OUO
            children in one order list), priced from the cached quote, which on a
            re-entry is the quote before the one that closed the position.
            """

            def __init__(self, orders: str) -> None:
                super().__init__(StrategyConfig(strategy_id="Bracket-001"))
                self.orders = orders
                self.trades = 0
                self.entry: ClientOrderId | None = None

            def on_start(self) -> None:
                # Only to see the first quote: no per-quote strategy call after the entry.
                self.subscribe_quote_ticks(iid)

            def on_quote_tick(self, tick: QuoteTick) -> None:
                self.unsubscribe_quote_ticks(iid)
                self.enter()

            def enter(self) -> None:
                f = self.order_factory
                if self.orders == "oco":
                    order = f.market(iid, OrderSide.BUY, qty)
                    self.entry = order.client_order_id
                    self.submit_order(order)
                    return
                tp, sl = band(self.cache.quote_tick(iid).ask_price.as_decimal())
                self.submit_order_list(
                    f.bracket(iid, OrderSide.BUY, qty, tp_price=tp, sl_trigger_price=sl)
                )

            def on_order_filled(self, event: OrderFilled) -> None:
                if self.entry is None or event.client_order_id != self.entry:
                    return
                f = self.order_factory
                tp, sl = band(event.last_px.as_decimal())
                list_id = f.generate_order_list_id()
                tp_id, sl_id = f.generate_client_order_id(), f.generate_client_order_id()
                common = {
                    "trader_id": self.trader_id, "strategy_id": self.id,
                    "instrument_id": iid, "order_side": OrderSide.SELL, "quantity": qty,
                    "reduce_only": True, "contingency_type": ContingencyType.OUO,
                    "order_list_id": list_id, "ts_init": self.clock.timestamp_ns(),
                }  # fmt: skip
                take = LimitOrder(
                    client_order_id=tp_id, price=tp, init_id=UUID4(),
                    linked_order_ids=[sl_id], **common,
                )  # fmt: skip
                stop = StopMarketOrder(
                    client_order_id=sl_id, trigger_price=sl, trigger_type=TriggerType.DEFAULT,
                    init_id=UUID4(), linked_order_ids=[tp_id], **common,
                )  # fmt: skip
                self.submit_order_list(OrderList(list_id, [take, stop]))

            def on_position_closed(self, event: PositionClosed) -> None:
                self.trades += 1
                self.enter()

            def on_reset(self) -> None:
                self.trades = 0
                self.entry = None

        self.engine = BacktestEngine(
            BacktestEngineConfig(
                trader_id="BENCH-001",
                logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
                run_analysis=False,
            )
        )
        self.engine.add_venue(
            venue=venue,
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=USDC,
            starting_balances=[Money(BALANCE, USDC)],
            default_leverage=Decimal(LEVERAGE),
        )
        self.engine.add_instrument(instrument)
        scale = int(FIXED_SCALAR) // 10**8  # our 1e-8 units -> nautilus raw fixed point
        size = Quantity.from_str("1000.000").raw  # top of book never runs out
        ns = range(T0 * 1000, (T0 + len(bids) * 1000) * 1000, 10**6)  # one quote a ms
        ticks = [
            QuoteTick.from_raw(iid, b * scale, a * scale, 1, 1, size, size, 3, 3, t, t)
            for b, a, t in zip(bids, asks, ns, strict=True)
        ]
        self.n = len(ticks)
        self.engine.add_data(ticks)
        self.strategy = Bracket(orders)
        self.engine.add_strategy(self.strategy)

    def run(self) -> tuple[float, int]:
        """Quotes/s and number of round trips of one `BacktestEngine.run()`."""
        self.engine.reset()
        start = time.perf_counter()
        self.engine.run()
        elapsed = time.perf_counter() - start
        return self.n / elapsed, self.strategy.trades


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quotes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--orders", choices=("oco", "bracket"), default="oco",
                    help="how the nautilus strategy places its TP/SL (see Bracket)")  # fmt: skip
    args = ap.parse_args()
    try:
        import nautilus_trader
    except ImportError:
        sys.exit("nautilus_trader is not installed in this interpreter: run this script with "
                 ".venv-bench/bin/python (see benchmarks/README.md)")  # fmt: skip
    bids, asks = random_walk(SYMBOL, args.quotes, seed=42, vol_per_quote=0.0001)

    ours = [run_ours(bids, asks) for _ in range(args.repeat)]
    our_rate = statistics.median(r for r, _ in ours)
    our_trades = {t for _, t in ours}
    print(f"workbench engine: {our_rate:>12,.0f} quotes/s  ({'/'.join(map(str, our_trades))} "
          f"round trips; runs {', '.join(f'{r:,.0f}' for r, _ in ours)})")  # fmt: skip

    bench = Nautilus(bids, asks, args.orders)
    theirs = [bench.run() for _ in range(args.repeat)]
    bench.engine.dispose()
    nt_rate = statistics.median(r for r, _ in theirs)
    nt_trades = {t for _, t in theirs}
    print(f"nautilus {nautilus_trader.__version__}: {nt_rate:>10,.0f} quotes/s  "
          f"({'/'.join(map(str, nt_trades))} round trips; "
          f"runs {', '.join(f'{r:,.0f}' for r, _ in theirs)})")  # fmt: skip
    print(f"ratio: {our_rate / nt_rate:.1f}")


if __name__ == "__main__":
    main()
