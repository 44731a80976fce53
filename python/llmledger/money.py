"""Money for a human: the one way the command line and the report print an amount of USD.

Cents at or above a cent (`$7.23`, `$1,204.50`); below a cent, two significant digits
(`$0.0042`), since a cheap model's calls and tenants cost fractions of a cent and `$0.00`
would read as free. The ledger's amounts are exact Decimals; this rounds (half up) only for
display, never through a float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["usd"]

_CENT = Decimal("0.01")


def usd(amount: Decimal | None) -> str:
    """`amount` (Decimal USD) as text: `$7.23`, `$0.0042`, `$0.00`, `-$1.50`; `unpriced`
    for None (a cost nobody knows, which must never print as `$0`)."""
    if amount is None:
        return "unpriced"
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    if size and size < _CENT:
        # Two significant digits: quantize to the exponent of the second one.
        small = size.quantize(Decimal(1).scaleb(size.adjusted() - 1), ROUND_HALF_UP)
        if small.adjusted() > size.adjusted():  # 0.000999 became 0.00100: two digits, not 3
            small = small.quantize(Decimal(1).scaleb(small.adjusted() - 1))
        if small < _CENT:
            return f"{sign}${small:f}"
        size = small  # 0.0099.. rounded up to a cent: printed as one
    return f"{sign}${size.quantize(_CENT, ROUND_HALF_UP):,f}"
