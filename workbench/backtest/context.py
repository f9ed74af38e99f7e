"""The `ctx` a strategy trades through: its own account, through the engine's public API.

Every command is the engine's own (`open`, `order`, `close`, `cancel`, `modify`) for the
strategy's account and returns a `Ticket`: the ref, with the engine's answer once the
command ran (see `tickets`). Values reach the engine exactly as they are written to a
recording (a Decimal as its text), so a replay in `workbench simulate` sees the same
inputs, rejections included.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain import Instrument
from ..engine import KEEP
from .sizing import qty_for_risk, round_qty, round_to_tick
from .tickets import Commands, Ticket

if TYPE_CHECKING:
    from ..engine import Engine
    from .recording import Recorder


class Clock:
    """The strategy's time: `t` is the time of what is being handled; `cmd_t`, when set,
    is the time commands run at (a bar's end, since a bar is known only once it ends)."""

    __slots__ = ("t", "cmd_t")

    def __init__(self) -> None:
        self.t = 0
        self.cmd_t: int | None = None


class Context:
    """What a strategy may do and see: its own account, through the engine's public API.

    Commands issued while the engine is handling an input (from `on_event`) run right
    after that input, at its time; the returned ticket gets their answer then. A pending
    order is checked against the last quote when placed (a limit strictly better than
    the market, a stop strictly worse), so the quote being handled never fills it: the
    first quote that can is the next one of its symbol.
    """

    __slots__ = ("account", "symbols", "state", "_engine", "_clock", "_commands", "_n")

    def __init__(
        self,
        engine: Engine,
        account: str,
        clock: Clock,
        symbols: list[str],
        recorder: Recorder | None = None,
    ) -> None:
        self.account = account
        self.symbols = symbols
        self.state: dict[str, Any] = {}
        self._engine = engine
        self._clock = clock
        self._commands = Commands(account, recorder)
        self._n = 0
        engine.subscribe(self._commands.on_event)

    @property
    def t(self) -> int:
        """Engine time (µs) of what the strategy is handling."""
        return self._clock.t

    # -------------------------------------------------------------- commands
    def _ref(self, ref: object) -> str:
        if ref is None:
            self._n += 1
            return f"o{self._n}"
        return str(ref)

    def _send(self, record: dict[str, Any], **values: object) -> Ticket:
        """Record the command, run it on the engine, return its ticket."""
        for key, value in values.items():
            if value is KEEP:
                continue
            record[key] = _value(key, value)
        ticket = self._commands.issue(record)
        args = {k: v for k, v in record.items() if k not in ("type", "account")}
        getattr(self._engine, record["type"])(self.account, **args, t=self._clock.cmd_t)
        return ticket  # answered by now, unless the engine deferred the command

    def open(
        self,
        symbol: str,
        side: str,
        leverage: object,
        *,
        margin: object = None,
        qty: object = None,
        take_profit: object = None,
        stop_loss: object = None,
        trailing_stop: object = None,
        ref: str | None = None,
    ) -> Ticket:
        """Open a position at the market (the engine's `open`); the ticket is its ref
        (`o1`, `o2`... by default)."""
        rec = {"type": "open", "account": self.account, "ref": self._ref(ref)}
        return self._send(
            rec, symbol=_name("symbol", symbol), side=_name("side", side),
            leverage=leverage, **_given(margin=margin, qty=qty, take_profit=take_profit,
                                        stop_loss=stop_loss, trailing_stop=trailing_stop),
        )  # fmt: skip

    def order(
        self,
        symbol: str,
        side: str,
        kind: str,
        price: object,
        leverage: object,
        *,
        margin: object = None,
        qty: object = None,
        take_profit: object = None,
        stop_loss: object = None,
        trailing_stop: object = None,
        expires: int | None = None,
        ref: str | None = None,
    ) -> Ticket:
        """Place a pending `limit` or `stop` order (the engine's `order`): a long limit
        below the ask, a long stop above it, a short limit above the bid, a short stop
        below it. `expires`: engine time (µs) it is cancelled at. TP, SL and trailing
        stop pass to the position it opens, which takes the order's ref."""
        rec = {"type": "order", "account": self.account, "ref": self._ref(ref)}
        return self._send(
            rec, symbol=_name("symbol", symbol), side=_name("side", side),
            kind=_name("kind", kind), price=price, leverage=leverage,
            **_given(margin=margin, qty=qty, take_profit=take_profit, stop_loss=stop_loss,
                     trailing_stop=trailing_stop, expires=expires),
        )  # fmt: skip

    def close(self, ref: str, qty: object = None) -> Ticket:
        """Close an open position at the current closing-side price (answer `closed`), or
        only `qty` of it (answer `reduced`; the rest stays open with its TP/SL)."""
        rec = {"type": "close", "account": self.account, "ref": str(ref)}
        return self._send(rec, **_given(qty=qty))

    def cancel(self, ref: str) -> Ticket:
        """Cancel a pending order (answer `order_cancelled`)."""
        return self._send({"type": "cancel", "account": self.account, "ref": str(ref)})

    def modify(
        self,
        ref: str,
        *,
        take_profit: object = KEEP,
        stop_loss: object = KEEP,
        trailing_stop: object = KEEP,
        price: object = KEEP,
        expires: object = KEEP,
    ) -> Ticket:
        """Change what is given of a position's TP, SL, trailing stop, or of a pending
        order's too and its price and expiry; None removes it (answer `modified`)."""
        rec = {"type": "modify", "account": self.account, "ref": str(ref)}
        return self._send(
            rec, take_profit=take_profit, stop_loss=stop_loss, trailing_stop=trailing_stop,
            price=price, expires=expires,
        )  # fmt: skip

    # ----------------------------------------------------------------- views
    def positions(self) -> list[dict[str, Any]]:
        """The account's open positions (engine view, decimal text)."""
        return self._engine.positions(self.account)

    def position(self, ref: str) -> dict[str, Any] | None:
        return self._engine.position(self.account, ref)

    def orders(self) -> list[dict[str, Any]]:
        """The account's pending orders in placement order (engine view, decimal text)."""
        return self._engine.orders(self.account)

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        """The pending orders by ref."""
        return {o["ref"]: o for o in self._engine.orders(self.account)}

    def figures(self) -> dict[str, Any]:
        """balance, equity, used/free margin, margin_level: exact Decimals from the engine."""
        return self._engine.figures(self.account)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument's parameters (tick_size, max_leverage, commission_rate...)."""
        return self._engine.instrument(symbol)

    def last_quote(self, symbol: str) -> dict[str, Any] | None:
        """The engine's last quote of `symbol` (never a later one than being handled)."""
        return self._engine.last_quote(symbol)

    # -------------------------------------------------------------- rounding
    @staticmethod
    def round_qty(x: object) -> Decimal:
        """`x` rounded toward zero to 1e-8, the engine's quantity step."""
        return round_qty(x)

    def round_price(self, symbol: str, x: object, rounding: str = "nearest") -> Decimal:
        """`x` on the tick grid of `symbol`: "nearest" (half to even), "down" or "up"."""
        return round_to_tick(x, self._engine.instrument(symbol).tick_size, rounding)

    def qty_for_risk(self, symbol: str, risk_usd: object, entry: object, stop: object) -> Decimal:
        """The largest qty (to 1e-8, rounded down) losing at most `risk_usd` from `entry`
        to `stop`, with the instrument's commission on both; 0 if even 1e-8 is too much."""
        rate = self._engine.instrument(symbol).commission_rate
        return qty_for_risk(risk_usd, entry, stop, rate)

    # ---------------------------------------------------------------- runner
    @property
    def rejections(self) -> list[dict[str, Any]]:
        """This account's rejected commands so far (seq, t, ref, command, reason, message)."""
        return self._commands.rejections

    def unanswered(self) -> list[dict[str, Any]]:
        """Commands issued that the engine has not run (none once an input is done)."""
        return [rec for rec, _ in self._commands.waiting]


def _given(**values: object) -> dict[str, object]:
    return {k: v for k, v in values.items() if v is not None}


def _name(what: str, value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be text such as 'BTC_USDC', not {value!r}")
    return value


def _value(what: str, value: object) -> object:
    """A command value as the engine and the recording get it: text, int or None."""
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int):  # bool is an int: the engine refuses it
        return value
    if isinstance(value, float):
        raise TypeError(
            f'{what} must be a Decimal, an int or decimal text such as "0.1", '
            f"not the float {value!r}: money and prices are exact"
        )
    raise TypeError(f"{what} must be a Decimal, an int or decimal text, not {value!r}")
