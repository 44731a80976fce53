"""The one way money is printed: `llmledger.report.usd`."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmledger.money import usd


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("7.23", "$7.23"),
        ("0.288026", "$0.29"),
        ("1234567.891", "$1,234,567.89"),
        ("0.01", "$0.01"),
        ("0.0042", "$0.0042"),
        ("0.004249", "$0.0042"),
        ("0.00425", "$0.0043"),  # half up
        ("0.005", "$0.0050"),
        ("0.00999", "$0.01"),  # rounds up to a cent: printed as one
        ("0.000999", "$0.0010"),  # rounds up to a power of ten: still two digits
        ("0.0000995", "$0.00010"),
        ("0.000000000001", "$0.0000000000010"),  # one pico-USD
        ("0", "$0.00"),
        ("0.000000000000", "$0.00"),
        ("-1.5", "-$1.50"),
        ("-0.0042", "-$0.0042"),
        ("0.125", "$0.13"),
    ],
)
def test_usd(amount, text):
    assert usd(Decimal(amount)) == text


def test_an_unknown_cost_is_unpriced_never_zero():
    assert usd(None) == "unpriced"


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=12))
def test_usd_shows_cents_or_two_significant_digits_rounded_from_the_exact_amount(amount):
    shown = Decimal(usd(amount).replace("$", "").replace(",", ""))
    last_digit = Decimal(1).scaleb(shown.as_tuple().exponent)
    assert abs(shown - amount) <= last_digit / 2  # rounded, never truncated or floated
    if abs(shown) >= Decimal("0.01") or not shown:
        assert shown.as_tuple().exponent == -2
    else:
        assert len(shown.as_tuple().digits) == 2
