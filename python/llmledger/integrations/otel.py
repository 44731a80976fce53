"""OpenTelemetry: record each span that follows the GenAI semantic conventions.

    from llmledger.integrations.otel import SpanProcessor
    tracer_provider.add_span_processor(
        SpanProcessor(span_tags={"tenant": "app.tenant"}, resource_tags={"service": "service.name"})
    )

For apps whose LLM calls are already traced by an instrumentation that emits GenAI spans
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/). A span is a call when it
ends with a provider (`gen_ai.provider.name`, or the older `gen_ai.system`) and a token count
(`gen_ai.usage.input_tokens` / `output_tokens`, or the older `prompt_tokens` /
`completion_tokens`). Its row has the provider as the catalog names it (`gcp.gemini` is
`google`), the model the response names (`gen_ai.response.model`, else
`gen_ai.request.model`), the span's start time and duration, `gen_ai.response.id`, and
`usage_source` "otel". The conventions count cached input inside `input_tokens`, with
`gen_ai.usage.cache_read.input_tokens` and `gen_ai.usage.cache_creation.input_tokens` as its
parts; they have no reasoning count, so reasoning stays in `output_tokens` (billed at the
output rate, as the catalog bills it unless it says otherwise).

Tags are the tag scope when the span started, then the chosen resource attributes, then the
chosen span attributes (`{tag key: attribute name}`). A span whose SDK client is instrumented
as well is recorded once, by the client (`llmledger.capture.seen`). Spans are read as they
end, on the thread that ends them: a few attribute reads, the row is built on the ledger's
writer thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.trace import SpanProcessor as _SpanProcessor

from .. import tagging
from ..capture import seen
from ..capture.sink import report_problem
from ._reported import buckets, record, usage_json

__all__ = ["SpanProcessor"]

# The attribute names of the conventions, newest first where they were renamed.
_PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
_CACHE_WRITE = "gen_ai.usage.cache_creation.input_tokens"
_USAGE = (*_INPUT, *_OUTPUT, _CACHE_READ, _CACHE_WRITE)

# Well-known provider names the price catalog does not match by itself.
_PROVIDERS = {"gcp.gen_ai": "google", "x_ai": "xai"}


class SpanProcessor(_SpanProcessor):
    """Turns GenAI spans into ledger rows. `span_tags` and `resource_tags` map a tag key to
    the span or resource attribute its value is read from."""

    def __init__(
        self,
        *,
        span_tags: Mapping[str, str] | None = None,
        resource_tags: Mapping[str, str] | None = None,
    ) -> None:
        self._span_tags = _checked("span_tags", span_tags)
        self._resource_tags = _checked("resource_tags", resource_tags)
        # Spans in flight that began as GenAI calls, by span id: the scope and `seen` call
        # of their start. Popped as they end.
        self._started: dict[int, tuple[dict[str, str], seen.Reporting]] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        if any(name in attributes for name in _PROVIDER):
            # In the context that goes on to send the request: its tags and `seen` are the call's.
            self._started[span.context.span_id] = (tagging.snapshot(), seen.begin())

    def on_end(self, span: ReadableSpan) -> None:
        started = self._started.pop(span.context.span_id, None)
        try:
            self._record(span, started)
        except Exception:  # a bug here must not reach the tracer, nor the app
            report_problem("record", "could not record an OpenTelemetry span")
        finally:
            if started is not None:
                seen.end(started[1])

    def shutdown(self) -> None:
        self._started.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _record(
        self, span: ReadableSpan, started: tuple[dict[str, str], seen.Reporting] | None
    ) -> None:
        attributes = span.attributes or {}
        provider = _first(attributes, _PROVIDER)
        if provider is None or not any(name in attributes for name in (*_INPUT, *_OUTPUT)):
            return  # not a GenAI call, or one that reported no usage (an error)
        provider = _PROVIDERS.get(str(provider), str(provider))
        model = _first(attributes, ("gen_ai.response.model", "gen_ai.request.model"))
        tokens, usable = buckets(
            provider,
            _first(attributes, _INPUT),
            _first(attributes, _OUTPUT),
            cache_read_tokens=attributes.get(_CACHE_READ),
            cache_write_tokens=attributes.get(_CACHE_WRITE),
        )
        scoped, opened = started if started is not None else ({}, None)
        resource = span.resource.attributes if span.resource is not None else {}
        tags = tagging.merge(
            scoped, _picked(self._resource_tags, resource), _picked(self._span_tags, attributes)
        )
        start, end = span.start_time or 0, span.end_time or 0
        response_id = attributes.get("gen_ai.response.id")
        record(
            provider,
            str(model) if model is not None else "unknown",
            tokens,
            usable=usable,
            usage_source="otel",
            at_us=start // 1000,
            latency_ms=max(end - start, 0) / 1e6,
            tags=tags,
            response_id=str(response_id) if response_id is not None else None,
            raw_usage=usage_json({k: attributes[k] for k in _USAGE if k in attributes}),
            opened=opened,
        )


def _first(attributes: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return next((attributes[n] for n in names if n in attributes), None)


def _picked(wanted: Mapping[str, str], attributes: Mapping[str, Any]) -> dict[str, str]:
    """The chosen attributes as tags, made storable as every tag value is."""
    found = {key: attributes[name] for key, name in wanted.items() if name in attributes}
    return tagging.clean_explicit(found)


def _checked(field: str, mapping: Mapping[str, str] | None) -> dict[str, str]:
    """`{tag key: attribute name}`, its keys checked as tag keys are, here where it is given."""
    mapping = dict(mapping or {})
    tagging.clean_explicit(dict.fromkeys(mapping, ""))
    for key, name in mapping.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{field}[{key!r}] must name an attribute, got {name!r}")
    return mapping
