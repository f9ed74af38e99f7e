"""The pure parts of the dashboards' pending orders, edits and partial closes: what is
typed (numbers, expiries, shares of a position), the price lines drawn, what is said;
and the replay's trader on a real private engine."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from server.dashboard.fields import expiry_text, number, parse_expiry, part_qty
from server.dashboard.lines import STYLES, price_lines
from server.dashboard.messages import answer, notice
from server.dashboard.player import ACCOUNT, Player, synthetic_tape
from server.dashboard.trader import ReplayTrader
from server.dashboard.view import orders_frame, positions_frame
from workbench.engine import KEEP

T0 = 1_723_161_600_000_000  # 2024-08-09 00:00:00 UTC


def test_a_share_of_a_position_rounds_down_to_8_decimals() -> None:
    assert part_qty("0.00166666", 50) == "0.00083333"  # 0.00083333 exactly
    assert part_qty("0.00000003", 50) == "0.00000001"  # 1.5e-8 down, never up
    assert part_qty("0.00000001", 25) == "0"
    assert part_qty("1", 25) == "0.25"
    assert part_qty("0.00166666", 100) == "0.00166666"  # all of it, as the engine has it
    for qty in ("0.00166667", "0.12345679", "3"):
        for pct in (25, 50):
            part = Decimal(part_qty(qty, pct))
            assert part <= Decimal(qty) * pct / 100 and -part.as_tuple().exponent <= 8  # type: ignore[operator]
    with pytest.raises(ValueError, match="1 to 100 %"):
        part_qty("1", 0)


def test_an_expiry_is_minutes_from_now_or_a_utc_time() -> None:
    assert parse_expiry("", T0) is None
    assert parse_expiry("15", T0) == T0 + 15 * 60_000_000
    assert parse_expiry("30s", T0) == T0 + 30_000_000
    assert parse_expiry("2h", T0) == T0 + 7_200_000_000
    assert parse_expiry("1.5", T0) == T0 + 90_000_000
    assert parse_expiry("2024-08-09 00:10", 0) == T0 + 600_000_000
    assert parse_expiry("2024-08-09T00:10:05 UTC", 0) == T0 + 605_000_000
    assert parse_expiry(expiry_text(T0 + 605_000_000), 0) == T0 + 605_000_000
    with pytest.raises(ValueError, match="neither minutes from now"):
        parse_expiry("tomorrow", T0)
    assert number(" 59,000.5 ", "price") == "59000.5"  # sent as typed, commas dropped
    with pytest.raises(ValueError, match="price 'abc' is not a number"):
        number("abc", "price")


POS = {"ref": "pos-1234567890", "symbol": "BTC_USDC", "side": "long", "qty": "0.0016",
       "open_price": "60000.5", "margin": "100", "upnl": "-0.8", "leverage": "10",
       "take_profit": "61000", "stop_loss": None, "liquidation_price": "54300.5",
       "trailing_stop": "500", "trailing_level": "59500"}  # fmt: skip
ORDER = {"ref": "ord-1234567890", "symbol": "BTC_USDC", "side": "long", "kind": "limit",
         "price": "59000", "margin": "100", "qty": None, "leverage": "10",
         "take_profit": None, "stop_loss": "58000", "trailing_stop": None,
         "expires": T0 + 600_000_000, "placed_t": T0}  # fmt: skip


def test_price_lines_of_positions_and_orders_in_their_styles() -> None:
    other = {**ORDER, "ref": "eth", "symbol": "ETH_USDC"}
    lines = price_lines([POS], [ORDER, other], "BTC_USDC")
    got = dict(zip(lines["kind"], zip(lines["y"], lines["label"], strict=True), strict=True))
    assert got == {
        "entry": (60000.5, "Long 0.0016 @ 60000.5 · pos-1234"),
        "tp": (61000.0, "TP 61000"),
        "trailing": (59500.0, "Trailing 59500 (500 behind)"),
        "liquidation": (54300.5, "Liq. 54300.5"),
        "pending": (59000.0, "Buy limit 100 USD @ 59000 · ord-1234"),
    }  # no SL line (none set), nothing of ETH_USDC
    i = lines["kind"].index("liquidation")
    assert (
        (lines["color"][i], lines["dash"][i]) == STYLES["liquidation"][:2] == ("#b71c1c", "dashed")
    )
    assert lines["dash"][lines["kind"].index("pending")] == "dotted"
    x = dict(zip(lines["kind"], lines["x"], strict=True))
    assert len({x["entry"], x["tp"], x["trailing"]}) == 3  # close lines, labels apart
    assert price_lines([POS], [ORDER], "ETH_USDC")["y"] == []


def test_tables_show_trailing_stops_sizes_and_expiries() -> None:
    (row,) = orders_frame([ORDER]).to_dict("records")
    assert (row["id"], row["size"], row["sl"], row["tp"]) == (
        "ord-1234",
        "100.00 USD",
        "58000",
        "—",
    )
    assert row["expires"] == "2024-08-09 00:10:00"
    assert orders_frame([{**ORDER, "expires": None, "qty": "0.5"}])["expires"][0] == "never"
    (pos,) = positions_frame([POS], {}).to_dict("records")
    assert pos["trailing"] == "500 → 59500" and pos["sl"] == "—"


def test_notices_of_fills_trailing_stops_expiries_and_failed_fills() -> None:
    known = {"o1": ("BTC_USDC", "long limit at 59000"), "p1": ("BTC_USDC", "long")}
    fill = {"type": "opened", "ref": "o1", "symbol": "BTC_USDC", "side": "long",
            "qty": "0.0016", "price": "59000.5", "order": "limit"}  # fmt: skip
    assert notice(fill, known) == ("success", "Limit order filled: BTC_USDC long 0.0016 at 59000.5")
    assert notice({**fill, "order": None}, known) is None  # a market order: the ticket says it
    trail = {"type": "closed", "ref": "p1", "reason": "trailing_stop", "price": "59500",
             "pnl": "-0.8"}  # fmt: skip
    assert notice(trail, known) == ("error", "Trailing stop filled: BTC_USDC long at 59500, "
                                    "P/L -0.80")  # fmt: skip
    gone = {"type": "order_cancelled", "ref": "o1", "reason": "expired"}
    assert notice(gone, known) == ("warning", "Order expired: BTC_USDC long limit at 59000")
    failed = {**gone, "reason": "insufficient_margin", "message": "free margin 3.00 USD is less"}
    assert notice(failed, known) == (
        "error",
        "Order not filled: BTC_USDC long limit at 59000: free margin 3.00 USD is less",
    )
    assert notice({**gone, "reason": "cancelled"}, known) is None  # the person did it


def test_answers_quote_the_engine_and_escape_what_was_typed() -> None:
    known = {"p1": ("BTC_USDC", "long")}
    reduced = {"type": "reduced", "ref": "p1", "qty": "0.0008", "price": "60000",
               "pnl": "-0.4", "fee": "0.048", "remaining_qty": "0.0008"}  # fmt: skip
    text, ok = answer(reduced, known)
    red = '<span class="loss" data-pnl-sign="loss">'  # a loss: red
    assert ok and text.startswith(f"{red}Closed 0.0008 of BTC_USDC long at 60000: P/L -0.40, fee")
    assert 'data-remaining="0.0008"' in text
    text, ok = answer({"type": "rejected", "reason": "invalid_order",
                       "message": "price '<b>' is not a number"}, known)  # fmt: skip
    assert not ok and text == "<b>invalid_order</b>: price &#x27;&lt;b&gt;&#x27; is not a number"
    text, _ = answer({"type": "modified", "ref": "p1", "take_profit": None,
                      "stop_loss": "59000", "trailing_stop": None}, known)  # fmt: skip
    assert text == "Changed BTC_USDC long: TP —, SL 59000, trailing —"


def test_the_replay_trader_places_edits_fills_and_closes_in_part() -> None:
    tape = synthetic_tape(quotes=3000)
    p = Player(tape, speed=0, max_step=100)
    p.playing = True
    p.advance(0.1)
    done: list[int] = []
    trader = ReplayTrader(lambda: p, lambda: done.append(1))
    sym = tape.symbols[0]
    ask = p.engine.last_quote(sym)["ask"]  # type: ignore[index]

    async def run() -> None:
        below = str(ask - 1)
        ev = await trader.order(ACCOUNT, sym, "long", "limit", below, "10", margin="100",
                                expires=p.engine.now + 60_000_000)  # fmt: skip
        assert ev["type"] == "order_placed" and Decimal(ev["price"]) == ask - 1, ev
        ref = ev["ref"]
        bad = await trader.modify(ACCOUNT, ref, price=str(ask + 1000))
        assert bad["type"] == "rejected" and "must be below the ask" in bad["message"], bad
        moved = await trader.modify(ACCOUNT, ref, price=str(ask - 2), stop_loss="1",
                                    take_profit=KEEP)  # fmt: skip
        assert moved["type"] == "modified" and moved["stop_loss"] == "1.00", moved
        assert (await trader.cancel(ACCOUNT, ref))["type"] == "order_cancelled"
        assert p.engine.orders(ACCOUNT) == []
        opened = await trader.open(ACCOUNT, sym, "long", "10", qty="0.003", trailing_stop="50")
        assert opened["type"] == "opened", opened
        half = part_qty(opened["qty"], 50)
        red = await trader.close(ACCOUNT, opened["ref"], half)
        assert red["type"] == "reduced" and red["remaining_qty"] == "0.0015", red
        off = await trader.modify(ACCOUNT, opened["ref"], trailing_stop=None)
        assert off["type"] == "modified" and off["trailing_stop"] is None, off
        assert p.engine.positions(ACCOUNT)[0]["trailing_stop"] is None

    asyncio.run(run())
    assert len(done) == 7  # the page refreshed after each command
    # a seek back replays the commands given by hand: the same state again
    end, at = p.engine.account_state(ACCOUNT), p.pos
    p.seek(0.0)
    p.seek(at / len(tape))
    assert p.pos == at and p.engine.account_state(ACCOUNT) == end
