"""What a `reserve` budget reserves: the output cap each API names, and the worst-case price
(exact, in pico-USD, from the catalog's rates), and how a reserve budget is checked."""

from __future__ import annotations

import json

import pytest

import llmledger
from llmledger._core import estimate_request_tokens
from llmledger.capture.hosts import route
from llmledger.capture.worst_case import output_cap, worst_case_cost
from llmledger.pricing import build_pricer

AT_US = 1_765_000_000_000_000  # 2025-12-06


@pytest.mark.parametrize(
    ("api", "request_", "cap"),
    [
        ("chat", {"max_tokens": 300}, 300),
        ("chat", {"max_completion_tokens": 200, "max_tokens": 300}, 200),
        ("chat", {"max_tokens": 300, "n": 3}, 900),
        ("chat", {"n": 3}, None),
        ("chat", {"max_tokens": True}, None),  # not a count
        ("completions", {"max_tokens": 10, "n": 2, "best_of": 5}, 50),
        ("responses", {"max_output_tokens": 64}, 64),
        ("responses", {"max_tokens": 64}, None),  # not this API's name
        ("messages", {"max_tokens": 1024}, 1024),
        ("generate_content", {"generationConfig": {"maxOutputTokens": 8, "candidateCount": 2}}, 16),
        ("generate_content", {"generationConfig": []}, None),
        ("embeddings", {}, 0),
    ],
)
def test_output_cap(api, request_, cap):
    assert output_cap(api, request_) == cap


def test_worst_case_prices_the_counted_prompt_and_the_cap():
    pricer = build_pricer()
    openai = route("openai", "openai", "POST", "/v1/chat/completions")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "budget " * 2100}]}
    raw = json.dumps(body).encode()
    prompt = estimate_request_tokens("chat", raw, "o200k_base")
    assert prompt == 2108  # 2,101 of text, 3 per message, 1 for the role, 3 to prime the reply
    # gpt-4o-mini: $0.15/M input, $0.60/M output.
    assert worst_case_cost(pricer, openai, raw, AT_US, None) is None  # no cap
    assert worst_case_cost(pricer, openai, raw, AT_US, 300) == prompt * 150_000 + 300 * 600_000
    capped = json.dumps({**body, "max_tokens": 10, "n": 2}).encode()
    assert worst_case_cost(pricer, openai, capped, AT_US, 300) == prompt * 150_000 + 20 * 600_000
    unknown = json.dumps({**body, "model": "no-such-model", "max_tokens": 10}).encode()
    assert worst_case_cost(pricer, openai, unknown, AT_US, None) == 0  # unpriced counts nothing
    assert worst_case_cost(pricer, openai, b"not json", AT_US, 300) is None


def test_an_anthropic_prompt_marked_for_the_cache_is_priced_as_a_cache_write():
    pricer = build_pricer()
    anthropic = route("anthropic", "anthropic", "POST", "/v1/messages")
    content = [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]
    plain = {"model": "claude-sonnet-4-5", "max_tokens": 100,
             "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    cached = {**plain, "messages": [{"role": "user", "content": content}]}
    # claude-sonnet-4-5: $3/M input, $6/M for a 1-hour cache write, $15/M output.
    assert worst_case_cost(pricer, anthropic, json.dumps(plain).encode(), AT_US, None) == (
        8 * 3_000_000 + 100 * 15_000_000
    )
    prompt = estimate_request_tokens("messages", json.dumps(cached).encode(), "o200k_base")
    assert worst_case_cost(pricer, anthropic, json.dumps(cached).encode(), AT_US, None) == (
        prompt * 6_000_000 + 100 * 15_000_000
    )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"action": "notify", "reserve": True}, "reserve needs action='block'"),
        ({"action": "block", "reserve": 1}, "reserve must be True or False"),
        ({"action": "block", "reserve_max_tokens": 100}, "needs reserve=True"),
        ({"action": "block", "reserve": True, "reserve_max_tokens": 0}, "positive int"),
        ({"action": "block", "reserve": True, "reserve_max_tokens": 1.5}, "positive int"),
    ],
)
def test_reserve_is_checked_where_the_budget_is_built(kwargs, error):
    with pytest.raises((TypeError, ValueError), match=error):
        llmledger.Budget("day", usd=5, **kwargs)


def test_a_bedrock_request_is_priced_as_the_model_its_url_names():
    # AnthropicBedrock moves the model from the body to the URL; the profile there is billed.
    pricer = build_pricer()
    bedrock = route(
        "anthropic", "aws", "POST", "/model/global.anthropic.claude-haiku-4-5-20251001-v1:0/invoke"
    )
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": "budget " * 50}]}  # fmt: skip
    raw = json.dumps(body).encode()
    prompt = estimate_request_tokens("messages", raw, "o200k_base")
    # global.anthropic.claude-haiku-4-5: $1/M input, $5/M output.
    assert (
        worst_case_cost(pricer, bedrock, raw, AT_US, None) == prompt * 1_000_000 + 100 * 5_000_000
    )
