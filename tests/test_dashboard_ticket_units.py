"""The ticket's parts without a browser: reading what was typed (never a guess), the
preview's HTML, and the ticket refusing to send while the feed is not live."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import T0

from server.dashboard.preview import preview_html as shown
from server.dashboard.preview import read_draft
from server.dashboard.ticket import OrderTicket
from workbench.engine import Engine
from workbench.engine.preview import preview


def _typed(**fields: str) -> dict[str, str]:
    return {"amount": "100", "leverage": "10", "price": "", "tp": "", "sl": "", "trail": "",
            **fields}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "kind", "message"),
    [
        ({"leverage": ""}, "market", "leverage is empty"),
        ({"leverage": "  "}, "market", "leverage is empty"),
        ({"leverage": "ten"}, "market", "leverage 'ten' is not a number"),
        ({"leverage": "inf"}, "market", "leverage must be a finite number"),
        ({"amount": ""}, "market", "margin is empty"),
        ({"tp": "abc"}, "market", "take profit 'abc' is not a number"),
        ({"price": ""}, "limit", "the limit price is empty"),
        ({"price": "x"}, "stop", "the stop price 'x' is not a number"),
    ],
)
def test_what_cannot_be_sent_is_refused_in_plain_words(
    fields: dict[str, str], kind: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        read_draft(_typed(**fields), "long", kind, by_margin=True)


def test_what_was_typed_is_sent_as_typed() -> None:
    draft = read_draft(_typed(leverage="2.5", amount="0.5", tp="61,000"), "short", "market",
                       by_margin=False)  # fmt: skip
    assert draft.preview_args() == {
        "side": "short", "leverage": "2.5", "kind": "market", "price": None, "qty": "0.5",
        "take_profit": "61000", "stop_loss": None, "trailing_stop": None,
    }  # fmt: skip


def _engine() -> Engine:
    eng = Engine()
    eng.create_account("a")
    eng.quote("BTC_USDC", T0, "60000", "60000.5")
    return eng


def test_the_preview_shows_the_engines_figures_and_its_refusal() -> None:
    eng = _engine()
    ok = shown(preview(eng, "a", "BTC_USDC", "long", "20", margin="250", t=T0))
    assert 'data-preview="ok"' in ok and 'data-pv-qty="0.08333263"' in ok
    assert "4,749.96 USD" in ok and 'data-pv-liquidation-price="57000.47467978"' in ok
    short = shown(preview(eng, "a", "BTC_USDC", "long", "10", margin="9000", t=T0))
    assert (
        'data-preview="refused"' in short and 'data-preview-refusal="insufficient_margin"' in short
    )
    assert "-4,000.75 USD" in short and 'class="num pv-value loss"' in short  # in red
    limit = shown(preview(eng, "a", "BTC_USDC", "long", "10", margin="100", kind="limit",
                          price="59000", t=T0))  # fmt: skip
    assert "if filled at" in limit and 'data-pv-price="59000.0"' in limit
    nothing = shown(preview(eng, "a", "BTC_USDC", "long", "0", margin="100", t=T0))
    assert "leverage 0 is outside 1..100" in nothing and "fills at" not in nothing


class EngineTrader:
    """The Trader calls the ticket makes, straight on an engine (a test's own adapter)."""

    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self.sent: list[str] = []

    async def open(self, account: str, symbol: str, side: str, leverage: str,
                   **sizes: str | None) -> dict[str, Any]:  # fmt: skip
        self.sent.append("open")
        return self.eng.open(account, symbol, side, leverage, t=T0, **sizes)  # type: ignore[no-any-return]

    async def preview(self, account: str, symbol: str, **order: Any) -> dict[str, Any]:
        return preview(self.eng, account, symbol, **order, t=T0)


def test_nothing_is_sent_while_the_feed_is_not_live_nor_what_the_engine_refuses() -> None:
    trader = EngineTrader(_engine())
    ticket = OrderTicket(trader, lambda: "BTC_USDC", lambda: "a")  # type: ignore[arg-type]
    ticket.feed({"state": "STARTING"})
    assert ticket.submit.disabled
    asyncio.run(ticket._submit())
    assert "the feed is STARTING" in ticket.message.object and trader.sent == []
    ticket.feed({"state": "LIVE"})
    assert not ticket.submit.disabled
    ticket.leverage.value = "0"
    asyncio.run(ticket._submit())
    assert "leverage 0 is outside" in ticket.message.object and trader.sent == []
    ticket.leverage.value = "2.5"
    asyncio.run(ticket._submit())
    assert ticket.message.object.count("Opened long") == 1 and trader.sent == ["open"]
    (pos,) = trader.eng.positions("a")
    assert pos["leverage"] == "2.5"
