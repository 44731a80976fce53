"""What one ledger row can hold, and the one normalisation that makes captured text fit it.

Anything `track()` accepts must be storable, and read back unchanged, on SQLite, PostgreSQL
and MySQL/MariaDB: SQLite stores almost anything, then a single odd row breaks every later
read; the servers refuse the row, and with it the batch it was written in. So the limits
are checked where values enter. `track()` and `quote()` raise (naming the field) on what does
not fit; capture, which must never raise, and tag values, which often come from user data,
are normalised instead by `storable()`: cut to the column's size, each NUL character and
lone surrogate replaced by U+FFFD.
"""

from __future__ import annotations

import re

from .._core import MAX_TOKENS
from ..store.schema import calls

__all__ = [
    "MAX_LATENCY_MS",
    "MAX_TOKENS_PER_BUCKET",
    "MODEL_LENGTH",
    "PRICING_MODE_LENGTH",
    "PROVIDER_LENGTH",
    "REPLACEMENT",
    "RESPONSE_ID_LENGTH",
    "checked_text",
    "storable",
]

MAX_TOKENS_PER_BUCKET: int = MAX_TOKENS
"""The most tokens one bucket of one call may hold. No real call comes near it (the largest
context windows hold a few million tokens), and eight full buckets at the catalog's dearest
rate (600 USD per million tokens) cost 4.8e18 pico-USD, within the 64-bit cost column."""

MAX_LATENCY_MS = 1e12
"""The longest latency a call may report, in milliseconds (about 31 years). Rollups sum
latencies, and PostgreSQL raises on a floating-point sum that overflows."""

PROVIDER_LENGTH: int = calls.c.provider.type.length
MODEL_LENGTH: int = calls.c.model.type.length
RESPONSE_ID_LENGTH: int = calls.c.provider_response_id.type.length
PRICING_MODE_LENGTH: int = calls.c.pricing_mode.type.length

# PostgreSQL refuses NUL in text and in JSONB; a lone surrogate (a file name decoded with
# `surrogateescape`, half of a pair) cannot be encoded as UTF-8 for any of the databases.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
"""What `storable()` puts in place of a NUL character or a lone surrogate."""


def storable(text: str, limit: int) -> str:
    """`text` as a column of `limit` characters stores it: cut to `limit`, then each NUL
    and lone surrogate replaced by U+FFFD (one for one, so the length stays)."""
    if len(text) > limit:
        text = text[:limit]
    # Cheap test first: most text is ASCII without NUL and needs no scan.
    if "\x00" in text or not text.isascii():
        text = _UNSTORABLE.sub(REPLACEMENT, text)
    return text


def checked_text(field: str, value: object, limit: int) -> str:
    """`value` if a column of `limit` characters stores it unchanged; else a TypeError or
    ValueError naming `field`."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field} must not be empty")
    if len(value) > limit:
        raise ValueError(
            f"{field} is {len(value)} characters long; the ledger keeps at most {limit}: "
            f"{value[:40]!r}..."
        )
    if ("\x00" in value or not value.isascii()) and _UNSTORABLE.search(value):
        raise ValueError(
            f"{field} holds a NUL character or a lone surrogate, which the databases cannot "
            f"store: {value[:60]!r}"
        )
    return value
