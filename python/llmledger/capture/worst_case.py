"""The most a request can cost, read from its body before it leaves: what a `reserve` budget
reserves (`llmledger.budgets.reserve`).

Input: the request's tokens counted by the Rust BPE tokenizer (`estimate_request_tokens`,
exact for OpenAI's text models, an approximation for other providers'), all priced as
uncached input, or as a cache write when an Anthropic request marks `cache_control` (a
write costs more than input). Output: the request's own cap, times the completions asked
for (`n`, `best_of`, `candidateCount`), priced as output or as reasoning, whichever costs
more. The service tier the request asks for prices both. Not counted: images, audio and
files in the input, tool fees (web search), and a provider that bills more tokens than the
cap or than its tokenizer counts: a call costing more than its worst case may overshoot by
the difference.
"""

from __future__ import annotations

import json
from typing import Any

from .._core import MAX_TOKENS, estimate_request_tokens
from ..pricing import Pricer
from .hosts import Route
from .observation import encoding_for, pricing_mode

__all__ = ["output_cap", "worst_case_cost"]

# The buckets (indexes of `llmledger.BUCKETS`) a request's tokens could be billed as.
_INPUT, _CACHE_WRITE, _CACHE_WRITE_1H, _OUTPUT, _REASONING = 0, 2, 3, 4, 5


def output_cap(api: str, request: dict[str, Any]) -> int | None:
    """The most output tokens the request lets the provider produce, over all the
    completions it asks for; 0 for embeddings; None when it names no cap."""
    if api == "embeddings":
        return 0
    copies = 1
    if api == "generate_content":
        config = request.get("generationConfig") or request.get("generation_config")
        if not isinstance(config, dict):
            config = {}
        cap = _count(config.get("maxOutputTokens", config.get("max_output_tokens")))
        copies = _count(config.get("candidateCount", config.get("candidate_count"))) or 1
    elif api == "responses":
        cap = _count(request.get("max_output_tokens"))
    elif api == "chat":
        cap = _count(request.get("max_completion_tokens", request.get("max_tokens")))
        copies = _count(request.get("n")) or 1
    else:  # completions, messages
        cap = _count(request.get("max_tokens"))
        copies = max(_count(request.get("n")) or 1, _count(request.get("best_of")) or 1)
    return None if cap is None else cap * copies


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def worst_case_cost(
    pricer: Pricer, route: Route, body: bytes, at_us: int, default_cap: int | None
) -> int | None:
    """The request's worst-case cost in pico-USD; 0 for a model without a price (it counts
    as nothing, as in the totals); None when the request names no output cap and
    `default_cap` is None, or its body is not a JSON object."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: nothing says what it may produce
        return None
    if not isinstance(request, dict):
        return None
    cap = output_cap(route.api, request)
    if cap is None:
        if default_cap is None:
            return None
        cap = default_cap
    model = request.get("model")
    if route.url_model_first() or not isinstance(model, str):
        model = route.url_model
    if model is None:
        return None
    resolution = pricer.resolve(pricer.provider_id(route.provider), model)
    if resolution is None:
        return 0
    tier = request.get("service_tier")
    mode = pricing_mode(tier if isinstance(tier, str) else None)
    prompt = estimate_request_tokens(route.api, body, encoding_for(model))  # type: ignore[arg-type]
    inputs = [_INPUT]
    if route.dialect == "anthropic" and b"cache_control" in body:
        inputs += [_CACHE_WRITE, _CACHE_WRITE_1H]
    worst = 0
    for input_bucket in inputs:
        for output_bucket in (_OUTPUT, _REASONING):
            tokens = [0] * 8
            tokens[input_bucket] = min(prompt, MAX_TOKENS)  # the most a row can record
            tokens[output_bucket] = min(cap, MAX_TOKENS)
            priced = pricer.price(resolution, at_us, mode, tuple(tokens))
            worst = max(worst, 0 if priced is None else priced.total)
    return worst
