"""Units of the live page's numbers and notifications: prices to the tick, signs and
colours by the figure shown, margin calls collapsed, what was seen kept per account,
and the CSV of the order history."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from server.dashboard.alerts import Alerts, seen_store, stored
from server.dashboard.export import orders_csv
from server.dashboard.messages import answer, notice
from server.dashboard.numbers import colored, liquidation, on_tick, price, price_units
from server.dashboard.view import account_html, history_frame, positions_frame
from server.dashboard.watchlist import change_text
from workbench.live.history import History

TICKS = {"BTC_USDC": Decimal("0.1"), "ETH_USDC": Decimal("0.01"), "X": Decimal("0.25")}
POS = {"ref": "p1", "symbol": "BTC_USDC", "side": "long", "qty": "0.1", "open_price": "60000.5",
       "upnl": "-0.004", "margin": "100", "leverage": "10", "take_profit": None,
       "stop_loss": None, "trailing_stop": None, "trailing_level": None,
       "liquidation_price": "56980.52489974"}  # fmt: skip


def test_prices_keep_their_tick_decimals() -> None:
    assert price_units(5_995_900_000_000, TICKS["BTC_USDC"]) == "59959.0"
    assert price_units(6_017_030_000_000, Decimal("0.01")) == "60170.30"
    assert price_units(257_490_000_000, TICKS["ETH_USDC"]) == "2574.90"
    assert price("2574.9", "ETH_USDC", TICKS) == "2574.90"
    assert price("60170.3", "BTC_USDC", TICKS) == "60170.3"
    assert price("1.5", "X", TICKS) == "1.50" and price(None, "X", TICKS) == "—"
    assert on_tick("100.37", Decimal("0.25")) == "100.25"  # on the grid, not only its digits


def test_a_liquidation_price_is_shown_at_the_tick_where_it_fires() -> None:
    tick = TICKS["BTC_USDC"]
    assert liquidation("56980.52489974", "long", tick, None) == "56980.5"  # bid <= it
    assert liquidation("56980.52489974", "short", tick, None) == "56980.6"  # ask >= it
    assert liquidation("56980.5", "long", tick, None) == "56980.5"  # on the grid already
    assert liquidation(None, "long", tick, None) == "—"
    # without the instrument (a replay page): the decimals of the opening price
    (row,) = positions_frame([POS], {}).to_dict("records")
    assert row["liq"] == "56980.5"
    (row,) = positions_frame([POS], {}, {"BTC_USDC": Decimal("0.01")}).to_dict("records")
    assert row["liq"] == "56980.52"


def test_signs_and_colours_follow_the_figure_as_shown() -> None:
    strip = account_html({"balance": Decimal(5000), "equity": Decimal("4999.996"),
                          "used_margin": Decimal(100), "free_margin": Decimal("4899.996"),
                          "margin_level": Decimal("4999.99"), "margin_mode": "isolated"},
                         [POS])  # fmt: skip
    # an uPnL of -0.004 shows as +0.00: neutral, not red
    assert 'class="value num " data-field="open_p/l">+0.00</div>' in strip
    shown = ("+12.35", "-0.80", "+0.00", "0.00", "—", "-1,234.50", "+0.52 %")
    signs = [colored(t).split('data-sign="')[1].split('"')[0] for t in shown]
    assert signs == ["profit", "loss", "neutral", "neutral", "neutral", "loss", "profit"]
    assert colored("-0.80") == '<span style="color: #ef5350" data-sign="loss">-0.80</span>'
    assert colored("0.00").startswith('<span style="color: inherit"')
    known = {"p1": ("BTC_USDC", "long")}
    closed = {"type": "closed", "ref": "p1", "reason": "stop_loss", "price": "59000.0"}
    assert notice({**closed, "pnl": "-5"}, known)[0] == "error"  # type: ignore[index]
    assert notice({**closed, "pnl": "5"}, known)[0] == "success"  # type: ignore[index]
    assert notice({**closed, "pnl": "-0.001"}, known)[0] == "info"  # type: ignore[index]
    text, ok = answer({**closed, "type": "closed", "reason": "manual", "pnl": "-3.2"}, known)
    assert ok and text.startswith('<span class="loss"') and "P/L -3.20" in text
    text, _ = answer({**closed, "type": "closed", "reason": "manual", "pnl": "3.2"}, known)
    assert text.startswith('<span class="profit"') and "P/L +3.20" in text
    text, _ = answer({**closed, "type": "closed", "reason": "manual", "pnl": "0.004"}, known)
    assert text.startswith('<span class="neutral"') and "P/L +0.00" in text
    assert change_text(Decimal(101), Decimal(100)) == "+1.00 %"
    assert change_text(Decimal("99.5"), Decimal(100)) == "-0.50 %"
    assert change_text(Decimal(100), Decimal(100)) == "0.00 %"


def test_history_rows_have_tick_prices() -> None:
    order = {"closedAt": "2024-08-09T00:10:00.000000Z", "asset": "ETH_USDC", "side": "short",
             "qty": "1", "openingPrice": "2574.9", "closingPrice": "2580", "pnl": "-5.1",
             "closeReason": "manual"}  # fmt: skip
    (row,) = history_frame([order], TICKS).to_dict("records")
    assert (row["open"], row["close"], row["pnl"]) == ("2574.90", "2580.00", "-5.10")


def _call(seq: int, level: str, t: int = 0) -> dict[str, object]:
    return {"type": "margin_call", "seq": seq, "t": t or seq * 1_000_000, "account": "a",
            "margin_level": level}  # fmt: skip


def test_repeated_margin_calls_collapse_into_one_entry() -> None:
    alerts = Alerts()
    known = {"p1": ("BTC_USDC", "long")}
    for seq, level in ((1, "58.10"), (2, "59.90"), (3, "55.20")):
        alerts.add(_call(seq, level), known)
    (entry,) = alerts.items
    assert entry.count == 3 and entry.seq == 3 and entry.t == 3_000_000
    assert entry.text.startswith("Margin call: margin level 55.20 % (×3, since 1970-01-01")
    # something else in between: a new entry, and the next call starts a new one
    alerts.add({"type": "closed", "seq": 4, "t": 4, "ref": "p1", "reason": "stop_out",
                "price": "50000", "pnl": "-40"}, known)  # fmt: skip
    alerts.add(_call(5, "57.00"), known)
    assert [(a.kind, a.count) for a in alerts.items] == [
        ("margin_call", 1), ("closed", 1), ("margin_call", 3)]  # fmt: skip
    assert alerts.add({"type": "opened", "seq": 6, "t": 6, "ref": "p2"}, known) is None
    alerts.seen = 3
    assert alerts.unread() == 2 and alerts.newest() == 5
    html = alerts.html()
    assert html.count('data-unread="true"') == 2 and html.count('data-unread="false"') == 1
    assert Alerts().html().endswith("No notifications yet.</div>")


def test_stored_notices_and_what_was_seen_last(tmp_path: Path) -> None:
    h = History.open(tmp_path / "history.duckdb")
    events = [
        {"seq": 1, "t": 1, "type": "opened", "account": "a", "ref": "p1", "symbol": "BTC_USDC",
         "side": "long", "price": "60000.5", "qty": "0.1", "margin": "100", "leverage": "10",
         "fee": "0"},
        {"seq": 2, "t": 2, **_call(2, "58.00"), "account": "a"},
        {"seq": 3, "t": 3, **_call(3, "58.00"), "account": "b"},
        {"seq": 4, "t": 4, "type": "closed", "account": "a", "ref": "p1", "reason": "stop_out",
         "price": "50000.0", "pnl": "-90", "fee": "0", "balance": "4910"},
    ]  # fmt: skip
    h.record(events)
    got, known = stored(h, "a")
    assert [e["seq"] for e in got] == [1, 2, 4]  # only a's, oldest first
    assert known == {"p1": ("BTC_USDC", "long")}
    alerts = Alerts()
    for ev in got:
        alerts.add(ev, known)
    assert alerts.items[0].text == "Stopped out: BTC_USDC long at 50000.0, P/L -90.00"
    store = seen_store(h)
    assert store.get("a") == 0
    store.mark("a", 4)
    store.mark("a", 2)  # another tab that saw less: never goes back
    assert seen_store(h).get("a") == 4 and store.get("b") == 0


def test_csv_of_the_order_history_is_exact_text() -> None:
    order = {"id": "abc", "asset": "BTC_USDC", "side": "long", "qty": "0.00166666",
             "leverage": "10", "margin": "100", "openingPrice": "60000.5",
             "closingPrice": "61000.0", "pnl": "1.66582", "fee": "0", "closeReason": "manual",
             "takeProfit": None, "stopLoss": "59000", "trailingStop": None,
             "openedAt": "2024-08-08T23:55:00.000000Z",
             "closedAt": "2024-08-09T00:10:00.000000Z"}  # fmt: skip
    rows = list(csv.reader(io.StringIO(orders_csv([order]))))
    assert rows[0][:3] == ["id", "symbol", "side"] and len(rows) == 2
    got = dict(zip(rows[0], rows[1], strict=True))
    assert got["pnl"] == "1.66582" and got["take profit"] == "" and got["stop loss"] == "59000"
    assert got["close price"] == "61000.0" and got["closed at"] == "2024-08-09T00:10:00.000000Z"


def test_the_ticket_preview_and_the_chart_label_show_a_liquidation_price_on_the_tick() -> None:
    from server.dashboard.lines import price_lines
    from server.dashboard.preview import preview_html

    lines = price_lines([POS], [], "BTC_USDC")
    assert "Liq. 56980.5" in lines["label"]
    p = {"ok": True, "kind": "market", "side": "short", "price": "2574.90", "qty": "1",
         "margin": "100", "fee": "0", "free_margin_after": "4900",
         "liquidation_price": "2699.12345678"}  # fmt: skip
    shown = preview_html(p)
    assert '<div class="num pv-value" data-pv="liquidation_price">2699.13</div>' in shown
    assert 'data-pv-liquidation-price="2699.12345678"' in shown  # the exact one kept
