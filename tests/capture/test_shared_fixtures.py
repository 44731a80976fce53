"""The parser's own fixtures (tests/fixtures, with their expected results in cases.json),
replayed through the real SDK clients with capture: each call leaves one row whose buckets,
model and response id are the parser's, priced as `llmledger.quote` prices them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from capture_cases import chat, completions, embeddings, generate, messages, responses
from fakeprovider import Reply
from fakeprovider.clients import make_client

import llmledger
from llmledger.capture import instrument
from llmledger.store.schema import BUCKETS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = json.loads((FIXTURES / "cases.json").read_text())
CALLS = {
    "chat": chat,
    "responses": responses,
    "completions": completions,
    "embeddings": embeddings,
    "messages": messages,
    "generate_content": generate,
}
SDK = {"openai": "openai", "anthropic": "anthropic", "google": "google"}
# Error replies have their own tests; google-genai streams with alt=sse, never a JSON array.
NAMES = sorted(n for n in EXPECTED if "error" not in n and n != "gemini_stream_array.json")


def _outcome(call: Any, client: Any, stream: bool) -> Any:
    """What the app gets: the result (streams drained), or the exception's type and text."""
    try:
        result = call(client, stream)
        items = list(result) if stream else [result]
        return [x.model_dump(mode="json") for x in items]
    except Exception as exc:  # the app would see this; it must be the same either way
        return (type(exc), str(exc))


@pytest.mark.parametrize("name", NAMES)
def test_fixture_through_the_sdk(name: str, fake: Any, ledger: Any) -> None:
    case = EXPECTED[name]
    provider = name.split("_")[0].replace("gemini", "google")
    sdk = SDK.get(provider, "openai")  # DeepSeek, Groq, OpenRouter: OpenAI-compatible
    content_type = "text/event-stream" if name.endswith(".sse") else "application/json"
    fake.serve(Reply((FIXTURES / name).read_bytes(), content_type=content_type))
    call = CALLS[case["api"]]
    with make_client(sdk, fake.url) as plain:
        expected = _outcome(call, plain, case["streaming"])
    with instrument(make_client(sdk, fake.url), provider=provider) as client:
        assert _outcome(call, client, case["streaming"]) == expected
    [row] = ledger.rows()
    assert (row.provider, row.model) == (provider, case["model"])
    assert row.provider_response_id == case["response_id"]
    if case["usage"] is None:
        assert row.usage_source == "estimated"
        assert row.tokens["input_tokens"] > 0
        return
    assert row.tokens == dict(zip(BUCKETS, case["usage"], strict=True))
    assert row.usage_source == ("stream_final" if case["streaming"] else "response")
    quote = llmledger.quote(provider, case["model"], pricing_mode=row.pricing_mode, **row.tokens)
    assert row.cost_pico == quote.cost_pico
