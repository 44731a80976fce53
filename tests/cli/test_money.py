"""The one way money is printed: `llmledger.report.usd`."""

from decimal import Decimal

import pytest

from llmledger.report import usd


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
