"""The provider-neutral rules capture applies after parsing."""

from __future__ import annotations

import pytest

from llmledger.capture.observation import encoding_for, pricing_mode


@pytest.mark.parametrize(
    ("tier", "mode"),
    [
        (None, "standard"),
        ("default", "standard"),  # OpenAI's standard processing
        ("auto", "standard"),
        ("standard", "standard"),  # Anthropic's
        ("flex", "flex"),
        ("priority", "priority"),
        ("batch", "batch"),
    ],
)
def test_service_tier_to_pricing_mode(tier: str | None, mode: str) -> None:
    assert pricing_mode(tier) == mode


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-2025-04-14", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o4-mini-2025-04-16", "o200k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("openai/gpt-4", "cl100k_base"),  # OpenRouter's provider/model names
        ("openai/gpt-4o", "o200k_base"),
        ("claude-haiku-4-5-20251001", "o200k_base"),  # an approximation for other vendors
        ("gemini-2.5-flash", "o200k_base"),
    ],
)
def test_estimation_encoding(model: str, encoding: str) -> None:
    assert encoding_for(model) == encoding
