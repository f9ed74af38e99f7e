"""Rounding and risk sizing for strategies: exact Decimals on the engine's grids.

The engine takes quantities with at most 8 decimals and any price with at most 8; an
instrument's prices move by its `tick_size`. These helpers turn a computed Decimal into a
value the engine takes, in the direction that is safe for the caller.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext

from ..money import BadNumber, to_decimal

QTY_STEP = Decimal("0.00000001")
CHARGE = Decimal("0.00000001")  # fees are charged in steps of 1e-8 USD
ROUNDINGS = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}


def _exact(value: object, what: str) -> Decimal:
    """A Decimal from a Decimal, an int or decimal text; TypeError for a float."""
    if isinstance(value, float):
        raise TypeError(
            f'{what} must be a Decimal, an int or decimal text such as "0.1", '
            f"not the float {value!r}: money and prices are exact"
        )
    try:
        return to_decimal(value, what)
    except BadNumber as e:
        raise ValueError(str(e)) from None


def round_qty(x: object) -> Decimal:
    """`x` rounded toward zero to 1e-8, the engine's quantity step (never more than x)."""
    with localcontext() as c:
        c.prec = 60
        return _exact(x, "qty").quantize(QTY_STEP, rounding=ROUND_DOWN)


def round_to_tick(x: object, tick: Decimal, rounding: str = "nearest") -> Decimal:
    """`x` as a multiple of `tick`: "nearest" (half to even), "down" or "up"."""
    mode = ROUNDINGS.get(rounding)
    if mode is None:
        raise ValueError(f"rounding must be one of {sorted(ROUNDINGS)}, not {rounding!r}")
    d = _exact(x, "price")
    with localcontext() as c:
        c.prec = 60
        steps = (d / tick).to_integral_value(rounding=mode)
        return (steps * tick).quantize(tick)


def qty_for_risk(
    risk_usd: object, entry: object, stop: object, commission_rate: Decimal = Decimal(0)
) -> Decimal:
    """The largest qty (a multiple of 1e-8) that loses at most `risk_usd` from `entry` to
    `stop`, with the commission on opening at `entry` and closing at `stop` as the engine
    charges it (each fee rounded up to 1e-8 USD).

    0 when even 1e-8 would lose more. The fill and exit prices are the given ones: a gap
    past the stop, or a worse fill, loses more.
    """
    risk = _exact(risk_usd, "risk_usd")
    e = _exact(entry, "entry")
    s = _exact(stop, "stop")
    if risk <= 0:
        raise ValueError(f"risk_usd must be positive, not {risk}")
    if e <= 0 or s <= 0:
        raise ValueError(f"entry and stop must be positive prices, not {e} and {s}")
    if e == s:
        raise ValueError(f"entry and stop are both {e}: the risk per unit would be 0")
    rate = _exact(commission_rate, "commission_rate")
    with localcontext() as c:
        c.prec = 80  # exact for every product and sum here
        per_unit = abs(e - s) + rate * (e + s)

        def steps(money: Decimal) -> int:  # the most 1e-8 steps of qty that `money` pays
            return max(int((money / per_unit / QTY_STEP).to_integral_value(ROUND_FLOOR)), 0)

        def loses(n: int) -> Decimal:
            q = n * QTY_STEP
            fees = sum((q * p * rate).quantize(CHARGE, ROUND_CEILING) for p in (e, s))
            return q * abs(e - s) + fees

        ok, bad = steps(risk - 2 * CHARGE), steps(risk) + 1  # each fee rounds up < 1e-8
        while bad - ok > 1:
            mid = (ok + bad) // 2
            if loses(mid) <= risk:
                ok = mid
            else:
                bad = mid
        return (ok * QTY_STEP).quantize(QTY_STEP)
