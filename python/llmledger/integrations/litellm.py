"""LiteLLM: record every call LiteLLM makes, any provider, from the usage it reports.

    import litellm, llmledger.integrations.litellm
    litellm.callbacks = [llmledger.integrations.litellm.callback()]

LiteLLM builds its own clients (or none: it speaks to most providers over its own HTTP
client), so `llmledger.instrument()` cannot reach them. The callback records each successful
call once it is over, streams when their last chunk is read: the provider and model as the
catalog names them (LiteLLM's `anthropic/claude-haiku-4-5` is provider `anthropic`, model
`claude-haiku-4-5`, or the dated model the response names), LiteLLM's usage mapped onto the
disjoint buckets (`_reported`), `usage_source` "response", or "stream_final" for a stream.
The tags are those in scope when the call started, wherever LiteLLM reports it from.

A call whose SDK client is instrumented as well (`litellm.completion(..., client=
llmledger.instrument(OpenAI()))`) is recorded once, by the client: the client's request
goes out while the call LiteLLM's pre-call hook opened is open, and the callback drops its
own report (`llmledger.capture.seen`). Failed calls are not recorded here (an instrumented
client records them). LiteLLM fetches its own cost map at import;
offline, set `LITELLM_LOCAL_MODEL_COST_MAP=True` first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from .. import tagging
from ..capture import seen
from ..capture.sink import report_problem
from ._reported import buckets, now_us, record, usage_json

__all__ = ["LedgerCallback", "callback"]

# Stashed in LiteLLM's details of one call (the dict it hands every callback of that call):
# the tag scope and the time when the call started, and the call opened for `seen`.
_STARTED = "llmledger_started"


def callback() -> LedgerCallback:
    """The callback to put in `litellm.callbacks`."""
    return LedgerCallback()


class LedgerCallback(CustomLogger):
    """Records LiteLLM's successful calls in the ledger (sync, async, streamed or not)."""

    def log_pre_api_call(self, model: str, messages: Any, kwargs: dict[str, Any]) -> None:
        # Called on the caller's thread as the call starts: its tag scope is the call's.
        kwargs[_STARTED] = (tagging.snapshot(), now_us(), seen.begin())

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        _record(kwargs, response_obj, start_time, end_time)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        _record(kwargs, response_obj, start_time, end_time)

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        _close(kwargs)

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        _close(kwargs)


def _close(kwargs: dict[str, Any]) -> None:
    """A failed call is not recorded here; its call is closed, so it opens no other."""
    started = kwargs.get(_STARTED)
    if started is not None:
        seen.end(started[2])


def _record(kwargs: dict[str, Any], response: Any, start_time: Any, end_time: Any) -> None:
    """Record one call LiteLLM reports; what goes wrong is counted, never raised into it."""
    try:
        _record_call(kwargs, response, start_time, end_time)
    except Exception:  # a bug here must not reach LiteLLM's logging, nor the app
        report_problem("record", "could not record a LiteLLM call")
    finally:
        _close(kwargs)


def _record_call(kwargs: dict[str, Any], response: Any, start_time: Any, end_time: Any) -> None:
    provider = kwargs.get("custom_llm_provider") or "unknown"
    usage = getattr(response, "usage", None)
    if usage is None:  # an image, a transcription: nothing the buckets can hold
        report_problem("usage", "LiteLLM reported a %s call without usage; not recorded", provider)
        return
    model = getattr(response, "model", None) or kwargs.get("model") or "unknown"
    # LiteLLM names some models with their provider in front ("anthropic/claude-..."); the
    # catalog does not.
    model = model.removeprefix(provider + "/")
    prompt = _details(usage, "prompt_tokens_details")
    completion = _details(usage, "completion_tokens_details")
    one_hour = _details(prompt, "cache_creation_token_details")
    tokens, usable = buckets(
        provider,
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
        cache_read_tokens=getattr(prompt, "cached_tokens", None),
        cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None)
        or getattr(prompt, "cache_creation_tokens", None),
        cache_write_1h_tokens=getattr(one_hour, "ephemeral_1h_input_tokens", None),
        input_audio_tokens=getattr(prompt, "audio_tokens", None),
        reasoning_tokens=getattr(completion, "reasoning_tokens", None),
        output_audio_tokens=getattr(completion, "audio_tokens", None),
    )
    latency_ms = _latency_ms(start_time, end_time)
    started = kwargs.get(_STARTED)
    if started is None:  # a path that skipped the pre-call hook: the scope it reports from
        scoped, at_us, opened = tagging.snapshot(), now_us() - int((latency_ms or 0) * 1000), None
    else:
        scoped, at_us, opened = started
    record(
        provider,
        model,
        tokens,
        usable=usable,
        usage_source="stream_final" if kwargs.get("stream") else "response",
        at_us=at_us,
        latency_ms=latency_ms,
        tags=scoped,
        response_id=getattr(response, "id", None),
        raw_usage=usage_json(usage.model_dump()),
        service_tier=_tier(response, usage),
        opened=opened,
    )


def _details(owner: Any, name: str) -> Any:
    """A nested usage object, or None (LiteLLM leaves those a provider lacks as None)."""
    return getattr(owner, name, None) if owner is not None else None


def _latency_ms(start_time: Any, end_time: Any) -> float | None:
    """LiteLLM hands the call's start and end as datetimes."""
    if isinstance(start_time, dt.datetime) and isinstance(end_time, dt.datetime):
        return max((end_time - start_time).total_seconds() * 1000, 0.0)
    return None


def _tier(response: Any, usage: Any) -> str | None:
    """The service tier: OpenAI reports it on the response, Anthropic (in LiteLLM) on usage."""
    return getattr(response, "service_tier", None) or getattr(usage, "service_tier", None)
