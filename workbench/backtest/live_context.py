"""The `ctx` of a strategy paper-trading live: the backtest's API over a server's account.

The same commands (`open`, `order`, `close(ref, qty=)`, `cancel`, `modify`), each
returning a `Ticket`, and the same views (`positions()`, `position`, `orders()`,
`pending`, `figures()`, `last_quote`, `instrument`, `t`, the rounding helpers), so a
strategy runs unchanged. The differences are the live market's: a command goes to the
server at once, from any hook, and its ticket is answered on return (the server's answer;
a refusal is a `rejected` ticket, logged and kept as in a backtest); `t` is the time of
the quote or event being handled (the server's clock); `figures()` asks the server.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import Instrument
from ..engine import KEEP
from ..money import MONEY_DP, fmt_money, price_units, qty_units
from .context import _given, _name, _value
from .sizing import qty_for_risk, round_qty, round_to_tick
from .tickets import Ticket

if TYPE_CHECKING:
    from .live import LiveRunner


class LiveContext:
    """What a strategy may do and see, trading one server account (see the module doc)."""

    def __init__(self, runner: LiveRunner, account: str, symbols: list[str]) -> None:
        self.account = account
        self.symbols = symbols
        self.state: dict[str, Any] = {}
        self._runner = runner
        self._n = 0

    @property
    def t(self) -> int:
        """Time (µs, the server's clock) of the quote or event being handled."""
        return self._runner.clock.t

    # -------------------------------------------------------------- commands
    def _ref(self, ref: object) -> str:
        if ref is None:
            self._n += 1
            return f"o{self._n}"
        return str(ref)

    def _send(self, record: dict[str, Any], **values: object) -> Ticket:
        for key, value in values.items():
            if value is not KEEP:
                record[key] = _value(key, value)
        return self._runner.command(record)

    def open(
        self, symbol: str, side: str, leverage: object, *, margin: object = None,
        qty: object = None, take_profit: object = None, stop_loss: object = None,
        trailing_stop: object = None, ref: str | None = None,
    ) -> Ticket:  # fmt: skip
        """Open a position at the market; the ticket is its ref (`o1`, `o2`... by default)."""
        rec = {"type": "open", "account": self.account, "ref": self._ref(ref)}
        return self._send(
            rec, symbol=_name("symbol", symbol), side=_name("side", side),
            leverage=leverage, **_given(margin=margin, qty=qty, take_profit=take_profit,
                                        stop_loss=stop_loss, trailing_stop=trailing_stop),
        )  # fmt: skip

    def order(
        self, symbol: str, side: str, kind: str, price: object, leverage: object, *,
        margin: object = None, qty: object = None, take_profit: object = None,
        stop_loss: object = None, trailing_stop: object = None, expires: int | None = None,
        ref: str | None = None,
    ) -> Ticket:  # fmt: skip
        """Place a pending `limit` or `stop` order; `expires`: server time (µs)."""
        rec = {"type": "order", "account": self.account, "ref": self._ref(ref)}
        return self._send(
            rec, symbol=_name("symbol", symbol), side=_name("side", side),
            kind=_name("kind", kind), price=price, leverage=leverage,
            **_given(margin=margin, qty=qty, take_profit=take_profit, stop_loss=stop_loss,
                     trailing_stop=trailing_stop, expires=expires),
        )  # fmt: skip

    def close(self, ref: str, qty: object = None) -> Ticket:
        """Close a position at the market, or only `qty` of it (answer `reduced`)."""
        rec = {"type": "close", "account": self.account, "ref": str(ref)}
        return self._send(rec, **_given(qty=qty))

    def cancel(self, ref: str) -> Ticket:
        """Cancel a pending order (answer `order_cancelled`)."""
        return self._send({"type": "cancel", "account": self.account, "ref": str(ref)})

    def modify(
        self, ref: str, *, take_profit: object = KEEP, stop_loss: object = KEEP,
        trailing_stop: object = KEEP, price: object = KEEP, expires: object = KEEP,
    ) -> Ticket:  # fmt: skip
        """Change what is given of a position's or pending order's TP, SL, trailing stop
        (and an order's price and expiry); None removes it (answer `modified`)."""
        rec = {"type": "modify", "account": self.account, "ref": str(ref)}
        return self._send(
            rec, take_profit=take_profit, stop_loss=stop_loss, trailing_stop=trailing_stop,
            price=price, expires=expires,
        )  # fmt: skip

    # ----------------------------------------------------------------- views
    def positions(self) -> list[dict[str, Any]]:
        """The account's open positions (engine view, decimal text; `upnl` at the last
        quote)."""
        return [self._live(p) for p in self._runner.book.positions.values()]

    def position(self, ref: str) -> dict[str, Any] | None:
        p = self._runner.book.positions.get(str(ref))
        return None if p is None else self._live(p)

    def orders(self) -> list[dict[str, Any]]:
        """The pending orders in placement order (engine view, decimal text)."""
        return [dict(o) for o in self._runner.book.pending.values()]

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        """The pending orders by ref."""
        return {ref: dict(o) for ref, o in self._runner.book.pending.items()}

    def figures(self) -> dict[str, Any]:
        """balance, equity, used/free margin, margin_level: the server's, as Decimals
        (while the server is away, it waits for it as a command does)."""
        return self._runner.figures(wait=True)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument's parameters (the server's defaults, or `instruments=`)."""
        return self._runner.instrument(symbol)

    def last_quote(self, symbol: str) -> dict[str, Any] | None:
        """The last quote of `symbol` handled (symbol, t, bid, ask)."""
        q = self._runner.quotes.get(symbol)
        return None if q is None else dict(q)

    def _live(self, p: dict[str, Any]) -> dict[str, Any]:
        view = dict(p)
        q = self._runner.quotes.get(p["symbol"])
        if q is not None:
            long = p["side"] == "long"
            close = price_units(q["bid"] if long else q["ask"])
            units = qty_units(p["qty"]) * (close - price_units(p["open_price"]))
            view["upnl"] = fmt_money(units if long else -units)
        return view

    # -------------------------------------------------------------- rounding
    @staticmethod
    def round_qty(x: object) -> Decimal:
        """`x` rounded toward zero to 1e-8, the engine's quantity step."""
        return round_qty(x)

    def round_price(self, symbol: str, x: object, rounding: str = "nearest") -> Decimal:
        """`x` on the tick grid of `symbol`: "nearest" (half to even), "down" or "up"."""
        return round_to_tick(x, self.instrument(symbol).tick_size, rounding)

    def qty_for_risk(self, symbol: str, risk_usd: object, entry: object, stop: object) -> Decimal:
        """The largest qty (to 1e-8) losing at most `risk_usd` from `entry` to `stop`,
        with the instrument's commission on both; 0 if even 1e-8 is too much."""
        return qty_for_risk(risk_usd, entry, stop, self.instrument(symbol).commission_rate)

    # ---------------------------------------------------------------- runner
    @property
    def rejections(self) -> list[dict[str, Any]]:
        """This run's rejected commands so far (t, ref, command, reason, message)."""
        return self._runner.commands.rejections

    def unanswered(self) -> list[dict[str, Any]]:
        """Commands sent whose answer was lost and could not be read back yet."""
        return [rec for rec, _ in self._runner.commands.waiting]


assert MONEY_DP == 16  # upnl above: qty (1e-8) x price (1e-8) is money (1e-16)
