"""The backtest's strategies paper-trading live on a real server (`run_live`).

A real `workbench serve` fed by the fake Backpack over real websockets, whose prices each
test sets; the runner talks to it over real HTTP and /ws, sometimes through a real TCP
proxy that cuts the line or loses one answer. The server's own history (GET
/trade/orders) is the judge: the trades the rules ask for, each exactly once, and a
`Result` that says the same.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from live_helpers import SYM, Background, Ladder, Proxy, Reenter, Waiter, serve_on, wait_until
from server_helpers import Market, Server, bearer, free_port, register, wait_price

from workbench.backtest import Result
from workbench.backtest.bars import BarBuilder
from workbench.backtest.live import LiveResult, LiveRunner, run_live
from workbench.client import ApiError

PASSWORD = "correct horse 1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, market: Market) -> Iterator[Server]:
    s = serve_on(tmp_path_factory.mktemp("live") / "data", free_port(), market.url)
    try:
        market.fake.wait_subscribed([f"bookTicker.{SYM}"])
        yield s
    finally:
        assert s.stop() == 0, s.output()


def user(s: Server, email: str) -> str:
    with s.client() as c:
        return register(c, email, PASSWORD)


def quote(s: Server, market: Market, bid: str, runner: LiveRunner | None = None) -> None:
    """Publish bid / bid + 0.5; wait until the server (and the runner) handled it."""
    ask = str(Decimal(bid) + Decimal("0.5"))
    with s.client() as c:
        for _ in range(20):  # sent again until it lands (a restarted server subscribes anew)
            market.set(SYM, bid, ask)
            with contextlib.suppress(AssertionError):
                wait_price(c, SYM, bid, timeout=1.0)
                break
        else:
            raise AssertionError(f"the server never had bid {bid}")
    if runner is not None:
        wait_until(lambda: (runner.quotes.get(SYM) or {}).get("bid") == Decimal(bid),
                   f"the runner to handle bid {bid}")  # fmt: skip


def history(s: Server, token: str) -> dict[str, dict[str, Any]]:
    with s.client() as c:
        r = c.get("/trade/orders", headers=bearer(token))
        assert r.status_code == 200, r.text
        return {o["id"]: o for o in r.json()["orders"]}


def assert_result_is_history(res: LiveResult, orders: dict[str, dict[str, Any]]) -> None:
    """Every trade of the Result is the server's closed order, figure for figure."""
    closed = {o["id"]: o for o in orders.values() if o["status"] == "closed"}
    rows = res.closed.to_dicts()
    assert sorted(res.ids[r["ref"]] for r in rows) == sorted(closed)
    for r in rows:
        o = closed[res.ids[r["ref"]]]
        assert (r["symbol"], r["side"], r["reason"]) == (o["asset"], o["side"], o["closeReason"])
        assert r["qty"] == Decimal(o["qty"]) and r["open_price"] == Decimal(o["openingPrice"])
        assert r["close_price"] == Decimal(o["closingPrice"]) and r["pnl"] == Decimal(o["pnl"])
        assert r["open_fee"] + r["close_fee"] == Decimal(o["fee"])
        assert r["reductions"] == len(o["reductions"] or [])


def test_a_live_run_makes_exactly_the_trades_its_rules_ask_for(
    srv: Server, market: Market, tmp_path: Path
) -> None:
    token = user(srv, "ladder@example.com")
    quote(srv, market, "60000")
    runner = LiveRunner(Ladder, srv.url, email="ladder@example.com", password=PASSWORD,
                        symbols=[SYM])  # fmt: skip
    run = Background(runner)
    wait_until(lambda: runner.loaded, "the runner to start")
    quote(srv, market, "60000.1", runner)  # on_start: `a` at the ask, `p` waits at 59500
    wait_until(lambda: "a" in runner.ctx.state and "p" in runner.ctx.state, "on_start")
    quote(srv, market, "60600", runner)  # half of `a` closed
    wait_until(lambda: runner.book.positions["o1"]["qty"] == "0.01", "the partial close")
    quote(srv, market, "61100", runner)  # the rest of `a` closed
    quote(srv, market, "59400", runner)  # `p` fills at the ask, and gets its take profit
    wait_until(lambda: (runner.book.positions.get("o2") or {}).get("take_profit"), "the TP")
    quote(srv, market, "60600", runner)  # the take profit closes `p`
    wait_until(lambda: "o2" in runner.book.done, "the take profit")
    res = run.finish()

    orders = history(srv, token)
    assert len(orders) == 2  # nothing sent twice
    a, p = orders[res.ids["o1"]], orders[res.ids["o2"]]
    assert (a["qty"], a["openingPrice"], a["closingPrice"], a["closeReason"]) == (
        "0.02", "60000.6", "61100.0", "manual")  # fmt: skip
    assert [(r["qty"], r["price"]) for r in a["reductions"]] == [("0.01", "60600.0")]
    assert (p["qty"], p["openingPrice"], p["closeReason"]) == ("0.01", "59400.5", "take_profit")
    assert Decimal(p["takeProfit"]) == 60500 and Decimal(p["closingPrice"]) >= 60500
    assert_result_is_history(res, orders)
    assert [(f["ref"], f["action"], f["order"]) for f in res.fills.to_dicts()] == [
        ("o1", "open", "market"), ("o1", "reduce", None), ("o1", "close", None),
        ("o2", "open", "limit"), ("o2", "close", None)]  # fmt: skip
    assert res.orders.select("ref", "kind", "status", "reason").rows() == [
        ("o2", "limit", "filled", None), ("o3", "stop", "cancelled", "cancelled")]  # fmt: skip
    with srv.client() as c:  # the stop order is gone from the server too
        assert c.get("/trade/pending", headers=bearer(token)).json()["orders"] == []
        assert c.get(f"/trade/pending/{res.ids['o3']}", headers=bearer(token)).status_code == 404
    assert res.rejections.height == 0 and runner.ctx.unanswered() == []
    assert all(e["seq"] is not None for e in res.raw_events)  # the server's own events
    stats = res.stats.row(0, named=True)
    assert stats["trades"] == 2 and stats["take_profits"] == 1
    assert res.params[runner.account]["strategy"].endswith("Ladder")
    assert "<html" in res.report(tmp_path / "live.html").read_text()[:500].lower()
    assert Result.load(res.save(tmp_path / "saved")).closed.equals(res.closed)


def test_a_lost_answer_is_read_back_and_not_sent_again(srv: Server, market: Market) -> None:
    token = user(srv, "lost@example.com")
    quote(srv, market, "60000")
    proxy = Proxy(int(srv.url.rsplit(":", 1)[1]))
    try:
        runner = LiveRunner(Ladder, proxy.url, email="lost@example.com", password=PASSWORD,
                            symbols=[SYM])  # fmt: skip
        run = Background(runner)
        wait_until(lambda: runner.loaded, "the runner to start")
        quote(srv, market, "60000.1", runner)
        wait_until(lambda: "p" in runner.ctx.state, "on_start")
        proxy.lose_answer(b"POST /trade/close/")  # the server runs it; the answer is lost
        quote(srv, market, "60600", runner)
        wait_until(proxy.lost.is_set, "the answer to be lost")
        wait_until(lambda: runner.book.positions["o1"]["qty"] == "0.01", "the partial close")
        (held,) = history(srv, token).values()
        assert (held["status"], held["qty"]) == ("open", "0.01")  # not closed twice over
        quote(srv, market, "61100", runner)
        wait_until(lambda: "o1" in runner.book.done, "the close")
        res = run.finish()
    finally:
        proxy.close()
    a = history(srv, token)[res.ids["o1"]]
    assert [(r["qty"], r["price"]) for r in a["reductions"]] == [("0.01", "60600.0")]  # once
    assert (a["closingPrice"], a["closeReason"]) == ("61100.0", "manual")
    assert res.reductions.select("ref", "qty").rows() == [("o1", Decimal("0.01"))]
    assert runner.ctx.unanswered() == [] and res.rejections.height == 0


def test_it_survives_a_server_restart_without_duplicating_an_order(
    tmp_path: Path, market: Market
) -> None:
    port = free_port()
    s = serve_on(tmp_path / "data", port, market.url)
    proxy = Proxy(port)
    try:
        token = user(s, "restart@example.com")
        quote(s, market, "60000")
        runner = LiveRunner(Reenter, proxy.url, email="restart@example.com",
                            password=PASSWORD, symbols=[SYM])  # fmt: skip
        run = Background(runner)
        wait_until(lambda: runner.loaded, "the runner to start")
        quote(s, market, "60000.1", runner)  # o1, take profit at 60500.6
        wait_until(lambda: "o1" in runner.book.positions, "o1")
        # o1's take profit; the strategy opens o2, the server runs it, and then the line
        # breaks before the answer comes back, and the server is killed and restarted
        proxy.lose_answer(b"POST /trade/orders", then_block=True)
        quote(s, market, "60600", runner)
        wait_until(proxy.lost.is_set, "the open's answer to be lost")
        s.kill9()
        s = serve_on(tmp_path / "data", port, market.url)
        proxy.unblock()
        wait_until(lambda: "o2" in runner.book.positions, "o2 read back", timeout=30)
        assert len(history(s, token)) == 2  # o2 is there once
        wait_until(lambda: runner.socket.connections >= 2, "the socket to come back")
        quote(s, market, "61200", runner)  # o2's take profit at 61100.5: o3
        wait_until(lambda: "o3" in runner.book.positions, "o3")
        res = run.finish()
        orders = history(s, token)
    finally:
        proxy.close()
        s.stop()
    assert len(orders) == 3  # o1, o2, o3: o2 was not sent again
    assert [orders[res.ids[r]]["status"] for r in ("o1", "o2", "o3")] == [
        "closed", "closed", "open"]  # fmt: skip
    assert_result_is_history(res, orders)
    assert [t.done for t in runner.strategy.tickets] == [True, True, True]
    assert runner.ctx.unanswered() == [] and res.rejections.height == 0


def test_a_dropped_socket_catches_up_with_what_happened_meanwhile(
    srv: Server, market: Market
) -> None:
    token = user(srv, "dropped@example.com")
    quote(srv, market, "60000")
    proxy = Proxy(int(srv.url.rsplit(":", 1)[1]))
    try:
        runner = LiveRunner(Reenter, proxy.url, email="dropped@example.com",
                            password=PASSWORD, symbols=[SYM])  # fmt: skip
        run = Background(runner)
        wait_until(lambda: runner.loaded, "the runner to start")
        quote(srv, market, "60000.1", runner)
        wait_until(lambda: "o1" in runner.book.positions, "o1")
        proxy.block()  # the line is down while o1's take profit closes it
        quote(srv, market, "60600")
        proxy.unblock()
        wait_until(lambda: "o2" in runner.book.positions, "o2 after the catch-up")
        res = run.finish()
    finally:
        proxy.close()
    orders = history(srv, token)
    assert len(orders) == 2
    closed = [e for e in res.raw_events if e["type"] == "closed"]
    assert [(e["ref"], e["reason"], e.get("recovered")) for e in closed] == [
        ("o1", "take_profit", True)]  # fmt: skip
    assert_result_is_history(res, orders)


def test_a_pending_order_filled_and_closed_while_the_line_was_down_is_caught_up(
    srv: Server, market: Market
) -> None:
    token = user(srv, "waiter@example.com")
    quote(srv, market, "60000")
    proxy = Proxy(int(srv.url.rsplit(":", 1)[1]))
    try:
        runner = LiveRunner(Waiter, proxy.url, email="waiter@example.com", password=PASSWORD,
                            symbols=[SYM])  # fmt: skip
        run = Background(runner)
        wait_until(lambda: runner.loaded, "the runner to start")
        quote(srv, market, "60000.1", runner)  # the limit at 59900.6, its TP at 59950.6
        wait_until(lambda: "o1" in runner.book.pending, "the limit order")
        proxy.block()
        quote(srv, market, "59850")  # filled at the ask 59850.5
        quote(srv, market, "59960")  # its take profit
        proxy.unblock()
        wait_until(lambda: "o1" in runner.book.done, "the catch-up")
        res = run.finish()
    finally:
        proxy.close()
    (o,) = history(srv, token).values()
    assert (o["openingPrice"], o["closeReason"]) == ("59850.5", "take_profit")
    kinds = [
        (e["type"], e["ref"], e.get("order"), e.get("recovered")) for e in runner.strategy.events
    ]
    assert kinds == [("order_placed", "o1", None, None), ("opened", "o1", "limit", True),
                     ("closed", "o1", None, True)]  # fmt: skip
    assert res.orders.select("ref", "status", "fill_price").rows() == [
        ("o1", "filled", Decimal("59850.5"))]  # fmt: skip
    assert_result_is_history(res, history(srv, token))


def test_hooks_see_the_quotes_time_and_bars_from_the_backtests_builder(
    srv: Server, market: Market
) -> None:
    user(srv, "bars@example.com")
    quote(srv, market, "60000")
    runner = LiveRunner(Waiter, srv.url, email="bars@example.com", password=PASSWORD,
                        symbols=[SYM], params={"below": "5000"})  # fmt: skip
    run = Background(runner)
    wait_until(lambda: runner.loaded, "the runner to start")
    quote(srv, market, "60001", runner)
    quote(srv, market, "60003", runner)
    time.sleep(1.05)  # the next quote is in the next 1 s bar: the first is over
    quote(srv, market, "60002", runner)
    wait_until(lambda: runner.strategy.got, "a bar")
    res = run.finish()
    strat = runner.strategy
    assert strat.seen and all(ctx_t == t for ctx_t, t, _, _ in strat.seen)
    builder, bars = BarBuilder(1_000_000, [SYM]), []  # the backtest's, on the same quotes
    for _, t, bid, ask in strat.seen:
        if builder.next_end is not None and t >= builder.next_end:
            bars += builder.due(t)
        builder.add(0, t, bid, ask)
    assert strat.got == bars and len(bars) >= 1
    assert bars[0].high >= Decimal("60001.25") and bars[0].end - bars[0].start == 1_000_000
    assert res.quotes == len(strat.seen)


def test_bad_credentials_symbols_and_params_are_refused_saying_why(srv: Server) -> None:
    user(srv, "refused@example.com")
    with pytest.raises(ApiError, match="invalid_credentials|unauthorized|401"):
        run_live(Reenter, srv.url, email="refused@example.com", password="wrong password 1")
    with pytest.raises(ValueError, match="the server has no"):
        run_live(Reenter, srv.url, email="refused@example.com", password=PASSWORD,
                 symbols=["NOPE_USDC"])  # fmt: skip

    class Declared(Reenter):
        symbols = ("NOPE_USDC",)  # what it trades, declared as for a backtest

    with pytest.raises(ValueError, match=r"the server has no \['NOPE_USDC'\]"):
        run_live(Declared, srv.url, email="refused@example.com", password=PASSWORD, duration=3)
    with pytest.raises(TypeError, match="params= needs the strategy class"):
        run_live(Reenter(), srv.url, email="refused@example.com", password=PASSWORD,
                 params={"gap": "5"})  # fmt: skip
    with pytest.raises(ValueError, match="give token="):
        run_live(Reenter, srv.url, email="refused@example.com")
    with pytest.raises(ConnectionError, match="cannot reach"):
        run_live(Reenter, f"http://127.0.0.1:{free_port()}", token="x")
