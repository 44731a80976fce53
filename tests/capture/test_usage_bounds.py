"""Usage is checked where it enters: what a host sends in place of a token count never
becomes a silent 0 or 2^63, and never loses the call.

- a string of digits is read as its number;
- anything else unusable (a word, a negative, a fraction, past `MAX_TOKENS`) records the call
  as "unknown", its tokens estimated as for a stream without usage, the provider's usage
  kept in `raw_usage`, and a "usage" problem counted and logged;
- a detail larger than its total (`cached_tokens` over `prompt_tokens`) is clamped to the
  total, so no more input is billed than the prompt had, and counted and logged.

Real SDK clients against the fake provider; gpt-4o-mini: 0.15 / 0.075 cached / 0.60 per
million tokens, claude-haiku-4-5 1.00 in / 5.00 out.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from capture_cases import chat, messages
from fakeprovider import Reply
from fakeprovider.clients import make_client
from fakeprovider.server import RESPONSES

from llmledger._core import MAX_TOKENS, count_tokens, estimate_request_tokens
from llmledger.capture import instrument, problems

CHAT = json.loads((RESPONSES / "openai_chat.json").read_text())
CHAT_TEXT = "The capital of France is Paris."


def chat_reply(**usage: Any) -> Reply:
    body = {**CHAT, "usage": {**CHAT["usage"], **usage}}
    return Reply(json.dumps(body).encode())


def call_openai(fake: Any) -> Any:
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        return chat(client, False)


def test_a_digit_string_count_is_read_as_its_number(fake: Any, ledger: Any) -> None:
    fake.serve(chat_reply(prompt_tokens="2006", completion_tokens="300"))
    before = problems["usage"]
    call_openai(fake)
    [row] = ledger.rows()
    assert row.usage_source == "response"
    assert (row.tokens["input_tokens"], row.tokens["cache_read_tokens"]) == (86, 1920)
    assert row.tokens["output_tokens"] == 300
    assert row.cost_pico == 336_900_000  # as with numbers: 86*150_000 + 1920*75_000 + 300*600_000
    assert problems["usage"] == before


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("a lot", "prompt_tokens is not a non-negative integer"),
        (-2006, "prompt_tokens is not a non-negative integer"),
        (2006.5, "prompt_tokens is not a non-negative integer"),
        (2**63, f"prompt_tokens is {2**63}, past the bound of {MAX_TOKENS}"),
        (MAX_TOKENS + 1, f"prompt_tokens is {MAX_TOKENS + 1}, past the bound of {MAX_TOKENS}"),
    ],
)
def test_an_unusable_count_records_the_call_as_unknown_with_estimated_tokens(
    bad: Any, why: str, fake: Any, ledger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake.serve(chat_reply(prompt_tokens=bad))
    before = problems["usage"]
    with caplog.at_level(logging.WARNING, logger="llmledger"):
        response = call_openai(fake)
    assert response.choices[0].message.content == CHAT_TEXT  # the app's call is untouched
    [row] = ledger.rows()
    assert row.usage_source == "unknown"
    assert row.model == "gpt-4o-mini-2024-07-18"
    prompt = estimate_request_tokens("chat", fake.received[-1].body, "o200k_base")
    completion = count_tokens(CHAT_TEXT, "o200k_base")
    assert prompt > 0 and completion == 7
    assert row.tokens == {
        **dict.fromkeys(row.tokens, 0),
        "input_tokens": prompt,
        "output_tokens": completion,
    }
    assert row.cost_pico == prompt * 150_000 + completion * 600_000  # priced, not dropped
    assert json.loads(row.raw_usage)["prompt_tokens"] == bad  # kept, so history can be re-derived
    assert problems["usage"] == before + 1
    assert why in caplog.text and "recorded as 'unknown'" in caplog.text


def test_cached_tokens_above_the_prompt_bill_no_more_input_than_the_prompt(
    fake: Any, ledger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake.serve(chat_reply(prompt_tokens=2000, prompt_tokens_details={"cached_tokens": 3000}))
    before = problems["usage"]
    with caplog.at_level(logging.WARNING, logger="llmledger"):
        call_openai(fake)
    [row] = ledger.rows()
    assert row.usage_source == "response"
    assert (row.tokens["input_tokens"], row.tokens["cache_read_tokens"]) == (0, 2000)
    assert row.cost_pico == 2000 * 75_000 + 300 * 600_000
    assert json.loads(row.raw_usage)["prompt_tokens_details"]["cached_tokens"] == 3000
    assert problems["usage"] == before + 1
    assert "cached_tokens 3000 exceeds prompt_tokens 2000; clamped to 2000" in caplog.text


def test_a_priced_call_with_usage_at_the_bound_is_recorded_and_priced(
    fake: Any, ledger: Any
) -> None:
    fake.serve(chat_reply(prompt_tokens=MAX_TOKENS, completion_tokens=MAX_TOKENS,
                          prompt_tokens_details={"cached_tokens": 0}))  # fmt: skip
    call_openai(fake)
    [row] = ledger.rows()
    assert (row.tokens["input_tokens"], row.tokens["output_tokens"]) == (MAX_TOKENS, MAX_TOKENS)
    assert row.cost_pico == MAX_TOKENS * 150_000 + MAX_TOKENS * 600_000


def test_anthropic_stream_with_an_unusable_count_is_unknown(
    fake: Any, ledger: Any, tmp_path: Path
) -> None:
    sse = (RESPONSES / "anthropic_messages_stream.sse").read_bytes()
    bad = sse.replace(b'"output_tokens":15', b'"output_tokens":"fifteen"', 1)
    assert bad != sse
    fake.serve(Reply(bad, content_type="text/event-stream; charset=utf-8"))
    with instrument(make_client("anthropic", fake.url), provider="anthropic") as client:
        text = "".join(
            e.delta.text for e in messages(client, True) if e.type == "content_block_delta"
        )
    [row] = ledger.rows()
    assert row.usage_source == "unknown"
    assert json.loads(row.raw_usage)["output_tokens"] == "fifteen"
    assert row.tokens["output_tokens"] == count_tokens(text, "o200k_base") > 0
