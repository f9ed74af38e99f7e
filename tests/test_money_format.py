"""Money and quantity text: the fast formatters equal an exact Decimal reference."""

from __future__ import annotations

from decimal import Context, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.money import MONEY_DP, fmt_money, fmt_price, fmt_qty, fmt_units


def reference(n: int, dp: int) -> str:
    """Decimal text of n * 10**-dp: no exponent, no trailing zeros, "0" for zero."""
    s = format(Decimal(n).scaleb(-dp, Context(prec=100)), "f")  # exact: no rounding
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("0", "-0") else s


# Values around the edges where the digits split: below one unit, exactly 10**dp,
# whole numbers, and big balances (1e25 units is 1e9 USD).
edges = st.sampled_from([0, 1, -1, 10**16, -(10**16), 10**16 + 1, 10**16 - 1, 5 * 10**25])
values = st.one_of(
    edges,
    st.integers(-(10**30), 10**30),
    st.integers(-(10**18), 10**18),
    st.integers(-(10**14), 10**14).map(lambda n: n * 10**8),
)


@settings(max_examples=500, deadline=None)
@given(values)
def test_fmt_money_is_the_exact_decimal(n: int) -> None:
    assert fmt_money(n) == reference(n, MONEY_DP) == fmt_units(n, MONEY_DP)


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from([0, 1, 2, 8, 16, 45]))
def test_fmt_units_and_qty(n: int, dp: int) -> None:
    assert fmt_units(n, dp) == reference(n, dp)
    assert fmt_qty(n) == reference(n, 8)


def test_examples_of_the_rules() -> None:
    assert fmt_money(-273732949260000000) == "-27.373294926"
    assert fmt_money(100 * 10**16) == "100"
    assert fmt_money(8085690 * 10**8) == "0.0808569"
    assert fmt_price(6149910000000, 2) == "61499.10"
