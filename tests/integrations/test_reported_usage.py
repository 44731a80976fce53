"""Usage reported as inclusive totals (LiteLLM, LangChain, OpenTelemetry) onto the disjoint
buckets: every token in exactly one bucket, parts clamped to their totals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from integration_cases import tokens

from llmledger.capture import sink
from llmledger.integrations._reported import buckets
from llmledger.store.schema import BUCKETS


def as_dict(result: tuple[tuple[int, ...], bool]) -> tuple[dict[str, int], bool]:
    counts, usable = result
    return dict(zip(BUCKETS, counts, strict=True)), usable


def test_cache_reads_and_writes_are_taken_out_of_the_input_total() -> None:
    # Anthropic through LiteLLM: 25 uncached + 10000 read + 3000 written (2000 of them 1 h).
    got = buckets("anthropic", 13025, 120, cache_read_tokens=10000, cache_write_tokens=3000,
                  cache_write_1h_tokens=2000)  # fmt: skip
    assert as_dict(got) == (
        tokens(input_tokens=25, cache_read_tokens=10000, cache_write_tokens=1000,
               cache_write_1h_tokens=2000, output_tokens=120),
        True,
    )  # fmt: skip


def test_reasoning_and_audio_are_taken_out_of_the_output_total() -> None:
    got = buckets("openai", 100, 500, input_audio_tokens=40, reasoning_tokens=300,
                  output_audio_tokens=50)  # fmt: skip
    assert as_dict(got) == (
        tokens(input_tokens=60, input_audio_tokens=40, output_tokens=150, reasoning_tokens=300,
               output_audio_tokens=50),
        True,
    )  # fmt: skip


def test_a_part_larger_than_its_total_is_clamped_and_counted() -> None:
    before = sink.problems["usage"]
    got = buckets("openai", 100, 10, cache_read_tokens=150, reasoning_tokens=20)
    assert as_dict(got) == (tokens(cache_read_tokens=100, reasoning_tokens=10), True)
    assert sink.problems["usage"] == before + 2


@pytest.mark.parametrize("bad", [-1, "12", 1.5, True, 10**12])
def test_a_count_that_is_not_a_token_count_makes_the_usage_unusable(bad: object) -> None:
    counts, usable = as_dict(buckets("openai", 100, bad))
    assert (counts, usable) == (tokens(input_tokens=100), False)


parts = st.integers(0, 10**6)


@given(parts, parts, parts, parts, parts, parts, parts, parts)
def test_every_token_lands_in_exactly_one_bucket(
    total_in: int, total_out: int, read: int, write: int, hour: int, audio: int, think: int,
    audio_out: int,
) -> None:  # fmt: skip
    counts, _ = buckets("openai", total_in, total_out, cache_read_tokens=read,
                        cache_write_tokens=write, cache_write_1h_tokens=hour,
                        input_audio_tokens=audio, reasoning_tokens=think,
                        output_audio_tokens=audio_out)  # fmt: skip
    got = dict(zip(BUCKETS, counts, strict=True))
    assert min(counts) >= 0
    inputs = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
              "input_audio_tokens")  # fmt: skip
    assert sum(got[b] for b in inputs) == total_in
    assert got["output_tokens"] + got["reasoning_tokens"] + got["output_audio_tokens"] == total_out
    if read + write + audio <= total_in:  # nothing clamped: each part is as given
        assert (got["cache_read_tokens"], got["input_audio_tokens"]) == (read, audio)
        assert got["cache_write_tokens"] + got["cache_write_1h_tokens"] == write
