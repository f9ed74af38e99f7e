"""The positions table on the live page: a change of the live columns alone (last price,
uPnL) redraws it at most once a second, since each redraw replaces its rows and a click
whose mousedown and mouseup straddle one is lost; a new or closed position, or a new
stop, redraws it at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from server.dashboard.chart import PriceChart
from server.dashboard.trading import TradingPanel


def _pos(ref: str, upnl: str, sl: str | None = None) -> dict[str, Any]:
    return {"ref": ref, "symbol": "BTC_USDC", "side": "long", "qty": "0.01",
            "open_price": "60000.0", "upnl": upnl, "margin": "60", "leverage": "10",
            "take_profit": None, "stop_loss": sl, "liquidation_price": "54000.0",
            "trailing_stop": None, "trailing_level": None}  # fmt: skip


def _panel() -> tuple[TradingPanel, list[Callable[[], None]]]:
    due: list[Callable[[], None]] = []
    panel = TradingPanel(None, lambda: "a", lambda: "BTC_USDC", PriceChart(),  # type: ignore[arg-type]
                         later=lambda fn, s: due.append(fn))  # fmt: skip
    return panel, due


def _upnl(panel: TradingPanel) -> list[str]:
    return [u for u in panel.positions_table.value["upnl"]]


def test_live_figures_wait_their_turn_and_the_last_of_them_is_shown() -> None:
    panel, due = _panel()
    quotes = {"BTC_USDC": ("60100.0", "60100.5")}
    panel.show_positions([_pos("p1", "1.00")], quotes)  # a new row: drawn at once
    assert len(_upnl(panel)) == 1 and "1.00" in _upnl(panel)[0] and not due
    panel.show_positions([_pos("p1", "2.00")], quotes)  # uPnL only, within the second
    panel.show_positions([_pos("p1", "3.00")], quotes)
    assert "1.00" in _upnl(panel)[0] and len(due) == 1  # one redraw waits
    due.pop()()
    assert "3.00" in _upnl(panel)[0]  # the newest figures, when their turn came
    panel._drawn_at = time.monotonic() - 1.0  # a second later: drawn at once
    panel.show_positions([_pos("p1", "4.00")], quotes)
    assert "4.00" in _upnl(panel)[0] and not due


def test_a_new_position_or_a_new_stop_is_drawn_at_once_and_drops_what_waited() -> None:
    panel, due = _panel()
    quotes = {"BTC_USDC": ("60100.0", "60100.5")}
    panel.show_positions([_pos("p1", "1.00")], quotes)
    panel.show_positions([_pos("p1", "2.00")], quotes)
    assert len(due) == 1
    panel.show_positions([_pos("p1", "2.50", sl="59000.0")], quotes)  # a new stop
    assert list(panel.positions_table.value["sl"]) == ["59000.0"]
    panel.show_positions([_pos("p1", "2.50", sl="59000.0"), _pos("p2", "0.10")], quotes)
    assert list(panel.positions_table.value["ref"]) == ["p1", "p2"]
    due.pop()()  # the figures that waited are older than what is shown: nothing changes
    assert list(panel.positions_table.value["ref"]) == ["p1", "p2"]
