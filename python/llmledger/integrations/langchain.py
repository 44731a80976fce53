"""LangChain: record each call a chat model makes, from the usage LangChain reports.

    from llmledger.integrations.langchain import Handler
    chain.invoke(question, config={"callbacks": [Handler()]})
    # or for every call of one model: ChatAnthropic(..., callbacks=[Handler()])

For chat models whose SDK clients llmledger cannot reach (a LangChain integration that builds
its own): each successful call is recorded as it ends, streamed or not, from the message's
`usage_metadata` mapped onto the disjoint buckets (`_reported`), with the provider and model
the response names (else the model's `ls_provider` and model parameter), `usage_source`
"response" or "stream_final". The tags are those in scope when the call started.

A call whose SDK client is instrumented as well (`llmledger.instrument(llm.root_client)`) is
recorded once, by the client: the handler sees the client's request go out while its call is
open, and drops its own report (`llmledger.capture.seen`). Failed calls are recorded only by
an instrumented client.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, LLMResult

from .. import tagging
from ..capture import seen
from ..capture.sink import report_problem
from ._reported import buckets, now_us, record, usage_json

__all__ = ["Handler"]


class _Run:
    """One chat model call in flight."""

    __slots__ = ("at_us", "model", "opened", "provider", "start", "streamed", "tags")

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.tags = tagging.snapshot()
        self.at_us = now_us()
        self.start = time.perf_counter_ns()
        self.opened = seen.begin()
        self.streamed = False


class Handler(BaseCallbackHandler):
    """A LangChain callback handler that records every chat model call it sees."""

    # Called in the run's own context, never from a thread pool: the call's tag scope, and
    # the context its SDK client sends the request from (for `seen`), are that context's.
    run_inline = True

    def __init__(self) -> None:
        self._runs: dict[UUID, _Run] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        params = invocation_params or {}
        provider = metadata.get("ls_provider") or "unknown"
        model = params.get("model") or params.get("model_name") or metadata.get("ls_model_name")
        self._runs[run_id] = _Run(provider, model or "unknown")

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run.streamed = True

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:  # not a chat model's run (a completion model), or begun elsewhere
            return
        try:
            _record(run, response)
        except Exception:  # a bug here must not reach LangChain, nor the app
            report_problem("record", "could not record a LangChain %s call", run.provider)
        finally:
            seen.end(run.opened)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            seen.end(run.opened)


def _usage_of(response: LLMResult) -> tuple[AIMessage, UsageMetadata] | None:
    """The first message of the response that reports usage, and its usage."""
    for generations in response.generations:
        for g in generations:
            if (
                isinstance(g, ChatGeneration)
                and isinstance(g.message, AIMessage)
                and g.message.usage_metadata
            ):
                return g.message, g.message.usage_metadata
    return None


def _record(run: _Run, response: LLMResult) -> None:
    found = _usage_of(response)
    if found is None:
        report_problem("usage", "a LangChain %s call reported no usage; not recorded", run.provider)
        return
    message, usage = found
    meta = message.response_metadata or {}
    provider = meta.get("model_provider") or run.provider
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    tokens, usable = buckets(
        provider,
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        cache_read_tokens=inputs.get("cache_read"),
        cache_write_tokens=inputs.get("cache_creation"),
        cache_write_1h_tokens=inputs.get("ephemeral_1h_input_tokens"),
        input_audio_tokens=inputs.get("audio"),
        reasoning_tokens=outputs.get("reasoning"),
        output_audio_tokens=outputs.get("audio"),
    )
    record(
        provider,
        meta.get("model_name") or meta.get("model") or run.model,
        tokens,
        usable=usable,
        usage_source="stream_final" if run.streamed else "response",
        at_us=run.at_us,
        latency_ms=(time.perf_counter_ns() - run.start) / 1e6,
        tags=run.tags,
        response_id=meta.get("id") or (response.llm_output or {}).get("id"),
        raw_usage=usage_json(usage),
        service_tier=meta.get("service_tier"),
        opened=run.opened,
    )
