"""One finished LLM call as capture saw it, built from the parser's result.

Everything provider-specific ends here: what leaves this module speaks in the canonical
buckets. When the response carried no usage (an OpenAI chat stream without
`include_usage`, a stream the client closed early or that broke midway), the tokens are
counted from the streamed text and the request body, and the row says "estimated": such a
call is never recorded as zero tokens. When it carried usage that cannot be used (a count
that is not a non-negative integer within `MAX_TOKENS`), the tokens are estimated the same
way, the row says "unknown", and the provider's usage object is kept in `raw_usage`.
"""

from __future__ import annotations

import json
from typing import Literal, NamedTuple

from .._core import BUCKETS, Summary, count_tokens, estimate_request_tokens
from .hosts import Route

__all__ = ["Observation", "encoding_for", "observe", "pricing_mode"]

Encoding = Literal["o200k_base", "cl100k_base"]

_NO_TOKENS = (0,) * len(BUCKETS)


class Observation(NamedTuple):
    """A captured call, ready for the recorder. `tokens` holds the canonical buckets, in
    their order (`llmledger.BUCKETS`)."""

    provider: str
    model: str
    api: str
    tokens: tuple[int, ...]
    usage_source: str
    pricing_mode: str
    status: str
    http_status: int | None  # None for a stream the app fed itself (`track_stream`)
    at_us: int
    latency_ms: float | None  # None for a call reported without its duration
    provider_response_id: str | None
    raw_usage: str | None
    tags: dict[str, str]
    event_id: str | None = None  # given before the request left (a budget reservation's)


# Service tiers as providers report them -> the catalog's pricing modes. OpenAI reports
# "default" for standard processing; Anthropic reports "standard".
_TIER_MODES = {"default": "standard", "auto": "standard", "standard": "standard"}


def pricing_mode(service_tier: str | None) -> str:
    """The pricing mode a reported service tier bills at ("flex", "priority", "batch"...)."""
    if not service_tier:
        return "standard"
    return _TIER_MODES.get(service_tier, service_tier)


def encoding_for(model: str) -> Encoding:
    """The BPE encoding used to estimate a model's tokens. Exact for OpenAI's models (GPT-4,
    GPT-3.5 and the ada-002/3 embeddings use cl100k_base; GPT-4o, 4.1, 5 and the o-series
    o200k_base); for other providers' models o200k_base is an approximation."""
    name = model.rpartition("/")[2]  # "openai/gpt-4" on OpenRouter
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return "o200k_base"
    if name.startswith(("gpt-4", "gpt-3.5", "text-embedding-")):
        return "cl100k_base"
    return "o200k_base"


def request_model(route: Route, body: bytes) -> str | None:
    """The model the request asked for: from the URL (Gemini, Bedrock), else the JSON body,
    else the URL (Azure's deployment)."""
    if url_model := route.url_model_first():
        return url_model
    try:
        model = json.loads(body).get("model")
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        model = None
    return model if isinstance(model, str) else route.url_model


def observe(
    route: Route,
    body: bytes,
    result: Summary | None,
    *,
    status: str,
    http_status: int | None,
    at_us: int,
    latency_ms: float,
    tags: dict[str, str],
    event_id: str | None = None,
) -> Observation:
    """Build the observation of one call from the parser's summary: None when the body was
    not parsed (an HTTP error, whose body is not read, or a body capture could not decode).
    `status` is "ok", or "interrupted" for a body that failed midway; a body the provider
    ended with an error in place of its end (`Summary.failure`) makes it "error"."""
    if result is None and http_status is not None and http_status >= 400:
        model = request_model(route, body) or "unknown"
        return Observation(
            route.provider, model, route.api, _NO_TOKENS, "response", "standard", "error",
            http_status, at_us, latency_ms, None, None, tags, event_id,
        )  # fmt: skip
    if result is None:  # a 2xx body capture could not decode: only the request is known
        model = request_model(route, body) or "unknown"
        tokens, source = _estimate(route, model, body, ""), "estimated"
        tier = response_id = raw_usage = None
    else:
        # Bedrock bills the model or inference profile its URL names; its responses name
        # Claude's own model.
        billed = route.url_model if route.url_model_billed else None
        model = billed or result.model or request_model(route, body) or "unknown"
        if result.failure:  # the provider ended the body with an error (Bedrock's exceptions)
            status = "error"
        tier, response_id, raw_usage = result.service_tier, result.response_id, result.raw_usage
        if result.tokens is not None:  # and so is usage_source, "response" or "stream_final"
            tokens, source = result.tokens, result.usage_source  # type: ignore[assignment]
        else:
            tokens = _estimate(route, model, body, result.output_text)
            # Usage that arrived but could not be used is "unknown"; none at all, "estimated".
            source = "estimated" if raw_usage is None else "unknown"
    return Observation(
        provider=route.provider,
        model=model,
        api=route.api,
        tokens=tokens,
        usage_source=source,
        pricing_mode=pricing_mode(tier),
        status=status,
        http_status=http_status,
        at_us=at_us,
        latency_ms=latency_ms,
        provider_response_id=response_id,
        raw_usage=raw_usage,
        tags=tags,
        event_id=event_id,
    )


def _estimate(route: Route, model: str, body: bytes, output_text: str) -> tuple[int, ...]:
    """Buckets counted from the request body and the streamed text (a documented estimate)."""
    encoding = encoding_for(model)
    prompt = estimate_request_tokens(route.api, body, encoding)
    # Embeddings have no output; the streamed text is the output of everything else.
    completion = 0 if route.api == "embeddings" else count_tokens(output_text, encoding)
    return (prompt, 0, 0, 0, completion, 0, 0, 0)
