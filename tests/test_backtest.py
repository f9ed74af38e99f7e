"""backtest(): the strategy API on the one engine, results, stats, bars, data sources."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ticks_helpers import CAPTURES

from workbench.backtest import Strategy, backtest, write_partitions
from workbench.backtest.examples import Bracket, SmaCross
from workbench.domain import Instrument
from workbench.engine import Engine
from workbench.feeds.synthetic import SyntheticFeed
from workbench.store.columns import decimal_array
from workbench.store.schema import connect
from workbench.store.writer import write_quotes

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from _quotes import random_walk  # noqa: E402

T0 = 1_723_161_600_000_000  # 2024-08-09 00:00:00 UTC, a whole minute
S = 1_000_000
X = Instrument("X", tick_size=Decimal("0.1"))
D = Decimal


def hand_quotes() -> list[tuple[str, int, str, str]]:
    return [
        ("X", T0, "100.0", "100.1"),
        ("X", T0 + 30 * S, "104.0", "104.1"),
        ("X", T0 + 60 * S, "110.0", "110.1"),  # long's take profit
        ("X", T0 + 90 * S, "112.0", "112.1"),
        ("X", T0 + 120 * S, "115.0", "115.1"),  # short's stop loss
        ("X", T0 + 150 * S, "116.0", "116.1"),
    ]


class Scripted(Strategy):
    """Long 1 X with TP 110 / SL 95; after it closes, short 2 X with TP 100 / SL 115."""

    def on_start(self, ctx: Any) -> None:
        ctx.open("X", "long", "10", qty="1", take_profit="110", stop_loss="95")

    def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
        if ev["type"] == "closed" and ev["ref"] == "o1":
            ctx.open("X", "short", "10", qty="2", take_profit="100", stop_loss="115")


def test_stats_on_a_hand_checked_run() -> None:
    res = backtest(Scripted, hand_quotes(), instruments=[X], balance="1000")
    closed = res.closed
    assert closed["reason"].to_list() == ["take_profit", "stop_loss"]
    assert closed["pnl"].to_list() == [D("9.9"), D("-10.2")]  # 1*(110.0-100.1), 2*(110.0-115.1)
    assert closed["close_price"].to_list() == [D("110.0"), D("115.1")]
    assert closed["net"].to_list() == [D("9.9"), D("-10.2")]
    eq = res.equity
    assert eq["kind"].to_list() == [
        "start",
        "opened",
        "interval",
        "closed",
        "opened",
        "interval",
        "closed",
        "end",
    ]
    assert eq["equity"].to_list() == [
        D(1000),
        D("999.9"),
        D("1003.9"),
        D("1009.9"),
        D("1009.7"),
        D("1005.7"),
        D("999.7"),
        D("999.7"),
    ]
    assert eq["t"].to_list()[2] == T0 + 60 * S
    st = res.stats.row(0, named=True)
    assert st["end_equity"] == D("999.7") and st["end_balance"] == D("999.7")
    assert st["return"] == pytest.approx(-0.0003)
    assert st["trades"] == 2 and st["wins"] == 1 and st["win_rate"] == 0.5
    assert st["take_profits"] == 1 and st["stop_losses"] == 1 and st["liquidations"] == 0
    assert st["pnl"] == D("-0.3") and st["fees"] == 0 and st["swap"] == 0
    assert st["max_drawdown_usd"] == D("10.2")
    assert st["max_drawdown"] == pytest.approx(10.2 / 1009.9)
    # 150 s of data: no annual figures (they come from daily returns: test_backtest_stats)
    assert st["sharpe"] is None and "shorter than 2 days" in st["notes"]
    level = res.margin_level["margin_level"].to_list()[0]
    assert abs(level - D("999.9") / D("10.01") * 100) < D("1e-15")


def test_frames_are_exact_decimals_and_convert_to_pandas() -> None:
    res = backtest(Scripted, hand_quotes(), instruments=[X], balance="1000")
    for frame, col in (
        (res.events, "price"),
        (res.fills, "price"),
        (res.closed, "pnl"),
        (res.equity, "equity"),
        (res.stats, "end_equity"),
        (res.prices, "bid"),
    ):
        assert isinstance(frame.schema[col], pl.Decimal), col
        pdf = frame.to_pandas()
        assert isinstance(pdf, pd.DataFrame) and len(pdf) == frame.height
    assert res.events["type"].to_list() == ["opened", "closed", "opened", "closed"]
    assert res.fills["action"].to_list() == ["open", "close", "open", "close"]
    assert res.fills["qty"].to_list() == [D(1), D(1), D(2), D(2)]
    assert str(res.events.schema["time"]) == "Datetime(time_unit='us', time_zone='UTC')"
    assert len(res.event_lines()) == 5  # 4 events + the account_state line


def test_bracket_strategy_gives_the_engine_listener_events() -> None:
    """The benchmark workload as a Strategy = the same workload as a bare engine listener."""
    bids, asks = random_walk("BTC_USDC", 30_000, seed=42, vol_per_quote=0.0001)
    ts = [T0 + i * 1000 for i in range(len(bids))]
    quotes = [
        ("BTC_USDC", t, D(b) / 10**8, D(a) / 10**8) for t, b, a in zip(ts, bids, asks, strict=True)
    ]
    res = backtest(Bracket(qty="0.1"), quotes, balance="1000000")

    eng = Engine()
    eng.create_account("main", balance="1000000")
    events: list[dict[str, Any]] = []
    n = 0

    def enter() -> None:
        nonlocal n
        n += 1
        ask = eng.last_quote("BTC_USDC")["ask"]  # type: ignore[index]
        eng.open(
            "main",
            "BTC_USDC",
            "long",
            "10",
            qty="0.1",
            ref=f"o{n}",
            take_profit=(ask * D("1.003")).quantize(D("0.1")),
            stop_loss=(ask * D("0.997")).quantize(D("0.1")),
        )

    def on_event(ev: dict[str, Any]) -> None:
        events.append(ev)
        if ev["type"] == "closed":
            enter()

    eng.subscribe(on_event)
    sid = eng.symbol_id("BTC_USDC")
    eng.feed_quotes([sid], ts[:1], bids[:1], asks[:1])
    enter()
    eng.feed_quotes([sid] * (len(ts) - 1), ts[1:], bids[1:], asks[1:])
    assert len(events) > 20
    assert res.raw_events == events
    assert res.stats["trades"][0] == len(events) // 2


def test_plain_callable_is_an_on_quote_strategy() -> None:
    seen: list[tuple[int, Decimal]] = []

    def fn(ctx: Any, quote: Any) -> None:
        seen.append((quote.t, quote.mid))
        if quote.t == T0 + 30 * S:
            ctx.open("X", "long", "2", margin="10")
        if quote.t == T0 + 90 * S:
            ctx.close("o1")

    res = backtest(fn, hand_quotes(), instruments=[X])
    assert [t for t, _ in seen] == [q[1] for q in hand_quotes()]
    assert seen[0][1] == D("100.05")
    assert [(e["type"], e["t"]) for e in res.raw_events] == [
        ("opened", T0 + 30 * S),
        ("closed", T0 + 90 * S),
    ]
    assert res.closed["reason"][0] == "manual" and res.closed["close_price"][0] == D("112.0")


def test_floats_are_refused_before_the_engine() -> None:
    class Floaty(Strategy):
        def on_start(self, ctx: Any) -> None:
            ctx.open("X", "long", "10", margin=10.5)

    with pytest.raises(TypeError, match="float"):
        backtest(Floaty, hand_quotes(), instruments=[X])


class BarSpy(Strategy):
    bars = "1m"

    def __init__(self) -> None:
        self.seen: list[tuple[Any, int, int]] = []

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.seen.append((bar, ctx.t, ctx.last_quote(bar.symbol)["t"]))
        if len(self.seen) == 1:
            ctx.open(bar.symbol, "long", "5", margin="50")


def bar_quotes() -> list[tuple[str, int, str, str]]:
    return [
        ("X", T0 + 1 * S, "100.0", "100.2"),
        ("Y", T0 + 2 * S, "50.0", "50.1"),
        ("X", T0 + 20 * S, "103.0", "103.2"),
        ("X", T0 + 40 * S, "99.0", "99.2"),
        ("X", T0 + 59 * S, "101.0", "101.2"),
        ("Y", T0 + 65 * S, "51.0", "51.1"),  # ends the first minute
        ("X", T0 + 190 * S, "102.0", "102.2"),  # the second bar: [1m, 2m) of Y only
        ("X", T0 + 200 * S, "104.0", "104.2"),  # the last, unfinished bar is not handed out
    ]


@pytest.mark.parametrize("record", [False, True])
def test_bars_are_handed_out_after_they_end(tmp_path: Path, record: bool) -> None:
    spy = BarSpy()
    rec = tmp_path / "bars.jsonl" if record else None
    res = backtest(spy, bar_quotes(), instruments=[X, Instrument("Y")], record=rec)
    bars = [b for b, _, _ in spy.seen]
    assert [(b.symbol, b.start, b.end) for b in bars] == [
        ("X", T0, T0 + 60 * S),
        ("Y", T0, T0 + 60 * S),
        ("Y", T0 + 60 * S, T0 + 120 * S),
    ]
    x = bars[0]
    assert (x.open, x.high, x.low, x.close) == (D("100.1"), D("103.1"), D("99.1"), D("101.1"))
    assert (x.bid, x.ask, x.quotes) == (D("101.0"), D("101.2"), 4)
    assert bars[2].close == D("51.05") and bars[2].quotes == 1
    # Handed out at the bar's end, before the quote that ended it reached the engine.
    assert [(t, last) for _, t, last in spy.seen[:2]] == [
        (T0 + 60 * S, T0 + 59 * S),
        (T0 + 60 * S, T0 + 2 * S),
    ]
    opened = res.raw_events[0]
    assert opened["type"] == "opened" and opened["t"] == T0 + 60 * S and opened["price"] == "101.2"


def test_bar_strategy_on_the_bulk_path_equals_per_quote() -> None:
    feed = SyntheticFeed(["BTC_USDC", "ETH_USDC"], seed=2, mean_interval_ms=300)
    data = feed.generate(8_000).to_arrow()

    class PerQuote(SmaCross):
        def on_quote(self, ctx: Any, quote: Any) -> None:
            pass

    bulk = backtest(SmaCross(3, 7), data, bars="30s")
    slow = backtest(PerQuote(3, 7), data, bars="30s")
    assert bulk.raw_events == slow.raw_events and len(bulk.raw_events) > 10
    assert bulk.equity.equals(slow.equity)


def test_accounts_each_get_their_own_strategy_and_events() -> None:
    seen: dict[str, list[str]] = {}

    class Logger(Scripted):
        def on_event(self, ctx: Any, ev: dict[str, Any]) -> None:
            seen.setdefault(ctx.account, []).append(ev["account"])
            super().on_event(ctx, ev)

    res = backtest(
        Logger,
        hand_quotes(),
        instruments=[X],
        accounts={"a": {"balance": "1000"}, "b": {"margin_mode": "cross"}},
    )
    assert seen == {"a": ["a"] * 4, "b": ["b"] * 4}
    st = res.stats
    assert st["account"].to_list() == ["a", "b"] and st["margin_mode"].to_list() == [
        "isolated",
        "cross",
    ]
    assert st["start_balance"].to_list() == [D(1000), D(5000)]
    assert st["end_equity"].to_list() == [D("999.7"), D("4999.7")]


def test_every_kind_of_data_gives_the_same_run(tmp_path: Path) -> None:
    data = SyntheticFeed(["BTC_USDC"], seed=9, mean_interval_ms=500).generate(4_000)
    quotes = list(data.quotes())
    sym = data.symbols[0]
    runs = {"list": backtest(Bracket(band="0.0005"), quotes)}
    tuples = [(q.symbol, q.t, str(q.bid), str(q.ask)) for q in quotes]
    runs["tuples"] = backtest(Bracket(band="0.0005"), tuples)
    runs["arrow"] = backtest(Bracket(band="0.0005"), data.to_arrow())
    frame = pl.from_arrow(data.to_arrow().select(["symbol", "t", "bid", "ask"]))
    runs["polars"] = backtest(Bracket(band="0.0005"), frame)
    runs["pandas"] = backtest(Bracket(band="0.0005"), frame.to_pandas())
    con = connect(tmp_path / "ticks.duckdb")
    write_quotes(con, quotes, "synthetic")
    con.close()
    runs["store"] = backtest(Bracket(band="0.0005"), tmp_path / "ticks.duckdb", symbols=[sym])
    files, _ = write_partitions(quotes, tmp_path / "parts")
    assert list(files) == [sym] and all(Path(p).is_file() for p in files[sym].values())
    trades = tmp_path / "parts" / "trades" / f"symbol={sym}" / "date=2024-01-01"
    trades.mkdir(parents=True)  # the recorder's mirror also holds trades: not quotes
    pq.write_table(
        pa.table({"symbol": [sym], "t": [quotes[0].t], "price": [1.5]}), trades / "part-0.parquet"
    )
    runs["parquet"] = backtest(Bracket(band="0.0005"), tmp_path / "parts")
    scen = tmp_path / "quotes.jsonl"
    backtest(Bracket(band="0.0005"), quotes, record=scen)
    runs["scenario"] = backtest(Bracket(band="0.0005"), scen)
    ref = runs.pop("list")
    assert len(ref.raw_events) > 10 and ref.quotes == len(quotes)
    for name, res in runs.items():
        assert res.raw_events == ref.raw_events, name
    windowed = backtest(
        Bracket(band="0.0005"), tmp_path / "parts", start=quotes[100].t, end=quotes[200].t
    )
    assert windowed.quotes == 100


def test_real_captures_or_synthetic_fallback(tmp_path: Path) -> None:
    if CAPTURES:
        res = backtest(Bracket("BTCUSDT", "0.0003", "50"), CAPTURES, symbols=["BTCUSDT"])
        assert res.quotes == 73_174
    else:
        con = connect(tmp_path / "sim.duckdb")
        SyntheticFeed(["BTC_USDC"], seed=4).write(con, 20_000)
        res = backtest(Bracket(band="0.0003"), con, symbols=["SIM_BTC_USDC"])
    assert res.stats["trades"][0] > 5


def test_plot_and_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    from bokeh.models import LayoutDOM

    res = backtest(Gambling, hand_quotes(), instruments=[X], progress=True)
    assert "backtest" in capsys.readouterr().err
    layout = res.plot()
    assert isinstance(layout, LayoutDOM) and len(layout.children) == 5  # price ... margin


class Gambling(Strategy):
    def on_quote(self, ctx: Any, quote: Any) -> None:
        if not ctx.positions():
            ctx.open("X", "long", "100", margin="100")


def test_liquidations_show_in_stats_and_plot() -> None:
    res = backtest(
        Gambling, [*hand_quotes()[:2], ("X", T0 + 35 * S, "90.0", "90.1")], instruments=[X]
    )
    assert res.closed["reason"].to_list() == ["liquidation"]
    assert res.stats["liquidations"][0] == 1
    assert res.plot() is not None


def test_long_runs_keep_a_thinned_price_tape_and_regular_samples() -> None:
    bids, asks = random_walk("BTC_USDC", 150_000, seed=1, vol_per_quote=0.0001)
    quotes = pa.table(
        {
            "symbol": ["BTC_USDC"] * len(bids),
            "t": [T0 + i * 1000 for i in range(len(bids))],
            "bid": decimal_array(bids),
            "ask": decimal_array(asks),
        }
    )
    res = backtest(Bracket(qty="0.01"), quotes, sample_every="10s")
    prices = res.prices
    assert 20_000 <= prices.height <= 40_000
    steps = prices["t"].diff().drop_nulls().unique().to_list()
    assert len(steps) == 1  # evenly thinned
    intervals = res.equity.filter(pl.col("kind") == "interval")["t"].to_list()
    assert intervals == [T0 + k * 10 * S for k in range(1, 15)]  # the last quote: 149.999 s


def test_a_symbol_without_quotes_is_reported() -> None:
    from workbench.backtest import NoQuotesError, open_source

    with pytest.raises(NoQuotesError, match="no quotes for Y in the list of quotes; known: X"):
        backtest(Scripted, hand_quotes(), instruments=[X], symbols=["X", "Y"])
    src = open_source(hand_quotes(), ["X"])  # a Source is run as it is, unchecked
    src.symbols = ["X", "Y"]
    with pytest.warns(UserWarning, match="no quotes for"):
        res = backtest(Scripted, src, instruments=[X])
    assert res.raw_events[0]["t"] == T0 + 150 * S  # on_start came only at the end
