"""The parser's usage checks against an independent oracle in plain Python: any JSON value
in any count field of a chat usage object gives the buckets the rules say, or none."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger._core import MAX_TOKENS, UsageParser

ABSENT = object()

# Usable values, in every form a host sends them...
USABLE = st.one_of(
    st.integers(0, 5000),
    st.integers(0, MAX_TOKENS),
    st.integers(0, 5000).map(float),
    st.integers(0, 5000).map(str),
    st.none(),
    st.just(ABSENT),
)
# ...and the rest: negatives, fractions, past the bound, words, other shapes.
ODD = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(MAX_TOKENS - 2, MAX_TOKENS + 2),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(MAX_TOKENS - 2, 2 * MAX_TOKENS).map(str),
    st.text(max_size=4),
    st.booleans(),
    st.just([1]),
)
# One odd value in ten per field: a usable usage in about half of the examples.
COUNT = st.integers(0, 9).flatmap(lambda k: ODD if k == 0 else USABLE)
FIELDS = ("prompt", "completion", "cached", "audio_in", "hits", "reasoning", "audio_out")


def count(value: Any) -> int | None:
    """The rule, written independently: absent and null are 0; a non-negative integer (or an
    integral float, or a string of ASCII digits) within MAX_TOKENS is itself; else unusable."""
    if value is ABSENT or value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, float):
        if value < 0 or not value.is_integer():
            return None
        n = int(value)
    elif isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return None
        n = int(value)
    else:
        return None
    return n if 0 <= n <= MAX_TOKENS else None


def expected(counts: dict[str, int | None]) -> tuple[tuple[int, ...] | None, bool]:
    """(buckets, clamped) per OpenAI's rules: details are parts of their totals, clamped."""
    if any(v is None for v in counts.values()):
        return None, False
    c: dict[str, int] = counts  # type: ignore[assignment]
    prompt, completion = c["prompt"], c["completion"]
    cached = c["cached"] or c["hits"]
    clamped_cached = min(cached, prompt)
    audio_in = min(c["audio_in"], prompt - clamped_cached)
    reasoning = min(c["reasoning"], completion)
    audio_out = min(c["audio_out"], completion - reasoning)
    clamped = (clamped_cached, audio_in, reasoning, audio_out) != (
        cached, c["audio_in"], c["reasoning"], c["audio_out"]
    )  # fmt: skip
    return (
        prompt - clamped_cached - audio_in, clamped_cached, 0, 0,
        completion - reasoning - audio_out, reasoning, audio_in, audio_out,
    ), clamped  # fmt: skip


def usage_object(values: dict[str, Any]) -> dict[str, Any]:
    def put(target: dict[str, Any], key: str, field: str) -> dict[str, Any]:
        if values[field] is not ABSENT:
            target[key] = values[field]
        return target

    usage = put(put(put({}, "prompt_tokens", "prompt"), "completion_tokens", "completion"),
                "prompt_cache_hit_tokens", "hits")  # fmt: skip
    usage["prompt_tokens_details"] = put(
        put({}, "cached_tokens", "cached"), "audio_tokens", "audio_in"
    )
    usage["completion_tokens_details"] = put(
        put({}, "reasoning_tokens", "reasoning"), "audio_tokens", "audio_out"
    )
    return usage


@settings(max_examples=400, deadline=None)
@given(values=st.fixed_dictionaries(dict.fromkeys(FIELDS, COUNT)))
def test_chat_usage_follows_the_rules(values: dict[str, Any]) -> None:
    usage = usage_object(values)
    parser = UsageParser("chat", False)
    parser.feed(json.dumps({"id": "c", "usage": usage}).encode())
    out = parser.finish()
    tokens, clamped = expected({f: count(v) for f, v in values.items()})
    assert out.tokens == tokens
    assert json.loads(out.raw_usage) == usage  # kept whatever it held
    if tokens is None:
        assert out.usage_source is None
        assert out.usage_problem is not None
    else:
        assert out.usage_source == "response"
        assert (out.usage_problem is not None) == clamped
