"""Exact fixed-point numbers for the ledger: parse decimal text into scaled ints and back.

Prices and quantities are ints in units of 1e-8; money is an int in units of 1e-16
(the exact product of a quantity and a price). Rates are kept as exact ratios.
No binary floating point is ever accepted.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

PRICE_DP = 8
QTY_DP = 8
MONEY_DP = 16
PRICE_ONE = 10**PRICE_DP
QTY_ONE = 10**QTY_DP
MONEY_ONE = 10**MONEY_DP
#: Charges computed by a division or a rate (fees, swaps, margins from qty) are
#: rounded up to this step of money units: 1e-8 USD.
CHARGE_STEP = 10 ** (MONEY_DP - 8)


class BadNumber(ValueError):
    """A number in the input is not an exact decimal the ledger can hold."""


def to_decimal(value: object, what: str) -> Decimal:
    """Read a decimal from text, an int or a Decimal; refuse floats, bools and junk."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise BadNumber(f"{what} must be a decimal number, not {value!r}")
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise BadNumber(f"{what} must be a decimal number, not {value!r}") from None
    elif isinstance(value, float):
        raise BadNumber(
            f'{what} must be a decimal string such as "61837.63", not the float {value!r}'
        )
    else:
        raise BadNumber(f"{what} must be a decimal number, not {value!r}")
    if not d.is_finite():
        raise BadNumber(f"{what} must be a finite number, not {value!r}")
    return d


def to_units(value: object, dp: int, what: str) -> int:
    """Exact scaled int of `value` with `dp` decimals; more decimals than that is an error."""
    d = to_decimal(value, what)
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    if exp < -dp:
        d2 = d.normalize()
        exp2 = d2.as_tuple().exponent
        assert isinstance(exp2, int)
        if exp2 < -dp:
            raise BadNumber(f"{what} {value!r} has more than {dp} decimal places")
        d = d2
    return int(d.scaleb(dp))


def price_units(value: object, what: str = "price") -> int:
    return to_units(value, PRICE_DP, what)


def qty_units(value: object, what: str = "qty") -> int:
    return to_units(value, QTY_DP, what)


def money_units(value: object, what: str = "amount") -> int:
    """Money given by a user (margin, deposit, balance): at most 8 decimals, as charges."""
    return to_units(value, 8, what) * CHARGE_STEP


def ratio(value: object, what: str) -> tuple[int, int]:
    """An exact rate as (numerator, denominator), denominator > 0."""
    return to_decimal(value, what).as_integer_ratio()


_POW10 = tuple(10**i for i in range(40))


def fmt_units(n: int, dp: int) -> str:
    """Decimal text of a scaled int: no exponent, no trailing zeros ("100", "0.5", "-27.37")."""
    if not n:
        return "0"
    one = _POW10[dp] if dp < 40 else 10**dp
    if n < 0:
        q, r = divmod(-n, one)
        if r:  # r + one: the fraction's digits with its leading zeros, after a "1"
            return f"-{q}.{str(r + one)[1:].rstrip('0')}"
        return f"-{q}"
    q, r = divmod(n, one)
    if r:
        return f"{q}.{str(r + one)[1:].rstrip('0')}"
    return str(q)


def fmt_price(n: int, min_dp: int = 0) -> str:
    """A price as decimal text, padded to at least `min_dp` decimals (the tick's)."""
    s = fmt_units(n, PRICE_DP)
    if min_dp:
        whole, _, frac = s.partition(".")
        if len(frac) < min_dp:
            s = f"{whole}.{frac.ljust(min_dp, '0')}"
    return s


def fmt_qty(n: int) -> str:
    return fmt_units(n, QTY_DP)


def fmt_money(n: int) -> str:
    """Money as decimal text: fmt_units(n, MONEY_DP) (16), by slicing the digits (no big
    division: a fill writes two or three of these)."""
    if n > 0:
        s = str(n)
        sign = ""
    elif n < 0:
        s = str(-n)
        sign = "-"
    else:
        return "0"
    if len(s) > MONEY_DP:
        # Prices and quantities have 8 decimals, so most amounts end in 8 zeros or more:
        # cutting them in one slice is cheaper than stripping them one by one.
        frac = s[-16:-8].rstrip("0") if s.endswith("00000000") else s[-16:].rstrip("0")
        return f"{sign}{s[:-16]}.{frac}" if frac else f"{sign}{s[:-16]}"
    return f"{sign}0.{s.rjust(16, '0').rstrip('0')}"


def fmt_decimal(d: Decimal) -> str:
    """Decimal text of a Decimal, without exponent or trailing zeros."""
    if d == d.to_integral_value():
        return str(int(d))
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_2dp(n: int, dp: int) -> str:
    """Money for messages a person reads: rounded half-up to cents, always two decimals."""
    sign = "-" if n < 0 else ""
    cents = (abs(n) * 100 + 10**dp // 2) // 10**dp
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def as_decimal(n: int, dp: int) -> Decimal:
    """Exact Decimal of a scaled int, without trailing zeros (for notebooks and the API)."""
    return Decimal(fmt_units(n, dp))


def ceil_div(a: int, b: int) -> int:
    """Ceiling of a / b for b > 0."""
    return -((-a) // b)


def ceil_charge(money: int) -> int:
    """Round a money amount up to the charge step (1e-8 USD)."""
    return ceil_div(money, CHARGE_STEP) * CHARGE_STEP
