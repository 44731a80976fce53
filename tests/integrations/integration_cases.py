"""The rows the fake provider's replies must leave, worked out by hand from their usage and
the catalog's prices.

Prices (USD per million tokens, the catalog in force in 2026): gpt-4o-mini 0.15 in, 0.075
cached, 0.60 out; claude-haiku-4-5 1.00 in, 0.10 cache read, 1.25 cache write (5 min), 2.00
cache write (1 h), 5.00 out; gemini-2.5-flash 0.30 in, 2.50 out. $X per million tokens is
X * 1e6 pico-USD per token.
"""

from __future__ import annotations

from llmledger.store.schema import BUCKETS

CHAT = {"input_tokens": 86, "cache_read_tokens": 1920, "output_tokens": 300}
CHAT_COST = 86 * 150_000 + 1920 * 75_000 + 300 * 600_000  # 336_900_000
CHAT_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
CHAT_STREAM = {"input_tokens": 19, "output_tokens": 10}
CHAT_STREAM_COST = 19 * 150_000 + 10 * 600_000  # 8_850_000
CHAT_STREAM_ID = "chatcmpl-C2fGZ8u4Vq0rj3wTnKx1d9Yb7Hs5A"


def tokens(**given: int) -> dict[str, int]:
    """All eight buckets, zero but those given."""
    return {b: given.get(b, 0) for b in BUCKETS}
