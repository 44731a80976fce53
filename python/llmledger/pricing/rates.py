"""Conversion of published prices (Decimal USD per unit) to the core's integer rates.

The ledger's money unit is the pico-USD (1e-12 USD). A price of `p` USD per million tokens is
`p * 10**6` pico-USD per token, an integer for any price with up to six decimals; a price of `p`
USD per thousand requests is `p * 10**9` pico-USD per request.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

__all__ = [
    "PICO_PER_USD",
    "PRICE_KEYS",
    "from_pico",
    "rate_from_price",
    "to_pico",
]

PICO_PER_USD = 10**12

PRICE_KEYS: dict[str, int] = {
    "input_mtok": 10**6,
    "output_mtok": 10**6,
    "cache_read_mtok": 10**6,
    "cache_write_mtok": 10**6,
    "cache_write_5m_mtok": 10**6,
    "cache_write_1h_mtok": 10**6,
    "output_reasoning_mtok": 10**6,
    "input_audio_mtok": 10**6,
    "output_audio_mtok": 10**6,
    "requests_kcount": 10**9,
}
"""Price keys the ledger's buckets use, with the factor from USD per unit to pico-USD."""


def rate_from_price(price_key: str, price: Decimal) -> tuple[int, bool]:
    """The integer pico-USD rate for `price`, and whether it had to be rounded.

    A handful of catalog entries carry binary-float noise (`0.18000000000000002`); those are
    rounded half to even to the pico-USD, and the caller records that it happened.
    """
    exact = price * PRICE_KEYS[price_key]
    rounded = exact.to_integral_value(rounding=ROUND_HALF_EVEN)
    return int(rounded), rounded != exact


def to_pico(usd: Decimal | str | int) -> int:
    """USD as an exact integer of pico-USD; rejects amounts finer than a pico-USD."""
    value = Decimal(usd) * PICO_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"{usd} USD is not a whole number of pico-USD")
    return int(value)


def from_pico(pico: int) -> Decimal:
    """Pico-USD as an exact `Decimal` USD amount."""
    return Decimal(pico).scaleb(-12)
