"""An OpenTelemetry SDK tracer whose GenAI spans (as an instrumentation of the OpenAI and
Anthropic SDKs emits them, around real calls to the fake provider) become ledger rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from fakeprovider import reply
from integration_cases import CHAT, CHAT_COST, CHAT_ID, tokens
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

import llmledger
from llmledger.capture import sink
from llmledger.integrations.otel import SpanProcessor


@pytest.fixture
def tracer() -> Iterator[Tracer]:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(
        SpanProcessor(span_tags={"tenant": "app.tenant"}, resource_tags={"service": "service.name"})
    )
    yield provider.get_tracer("genai-instrumentation")
    provider.shutdown()


def traced_chat(tracer: Tracer, client: openai.OpenAI, **span_attributes: Any) -> Any:
    """A chat call in a span with the attributes the GenAI conventions give it."""
    with tracer.start_as_current_span(
        "chat gpt-4o-mini",
        attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini", **span_attributes},
    ) as span:  # fmt: skip
        response = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        usage = response.usage
        span.set_attributes({
            "gen_ai.response.model": response.model,
            "gen_ai.response.id": response.id,
            # The conventions count cached input inside input_tokens, as OpenAI does.
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.prompt_tokens_details.cached_tokens,
        })  # fmt: skip
    return response


def openai_client(fake: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0)


def test_a_genai_span_becomes_a_row_tagged_from_scope_resource_and_span(
    fake: Any, ledger: Any, tracer: Tracer
) -> None:
    fake.serve(reply("openai_chat.json"))
    with openai_client(fake) as client, llmledger.tags(feature="chat", tenant="scope"):
        traced_chat(tracer, client, **{"app.tenant": "acme"})
    [row] = ledger.rows()
    assert (row.provider, row.model) == ("openai", "gpt-4o-mini-2024-07-18")
    assert row.tokens == tokens(**CHAT)
    assert row.cost_pico == CHAT_COST == 336_900_000
    assert (row.usage_source, row.provider_response_id) == ("otel", CHAT_ID)
    # Span attributes over resource attributes over the scope.
    assert row.tags == {"feature": "chat", "tenant": "acme", "service": "checkout"}
    assert row.latency_ms > 0


def test_cache_writes_are_taken_out_of_the_input_total(
    fake: Any, ledger: Any, tracer: Tracer
) -> None:
    fake.serve(reply("anthropic_messages.json"))
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=fake.url, max_retries=0)
    with (
        client,
        tracer.start_as_current_span(
            "chat claude-haiku-4-5", attributes={"gen_ai.system": "anthropic"}
        ) as span,
    ):
        message = client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
        usage = message.usage
        read, written = usage.cache_read_input_tokens, usage.cache_creation_input_tokens
        span.set_attributes({
            "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.usage.input_tokens": usage.input_tokens + read + written,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": read,
            "gen_ai.usage.cache_creation.input_tokens": written,
        })  # fmt: skip
    [row] = ledger.rows()
    assert (row.provider, row.model) == ("anthropic", "claude-haiku-4-5")
    # The conventions have no cache TTLs: every write is billed at the 5-minute rate.
    assert row.tokens == tokens(input_tokens=25, cache_read_tokens=10000,
                                cache_write_tokens=3000, output_tokens=120)  # fmt: skip
    assert row.cost_pico == 25_000_000 + 1_000_000_000 + 3_750_000_000 + 600_000_000
    assert row.tags == {"service": "checkout"}


def test_older_attribute_names_and_provider_names(ledger: Any, tracer: Tracer) -> None:
    with tracer.start_as_current_span("generate_content", attributes={
        "gen_ai.system": "gcp.gemini", "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.usage.prompt_tokens": 1000, "gen_ai.usage.completion_tokens": 200,
    }):  # fmt: skip
        pass
    [row] = ledger.rows()
    assert (row.provider, row.model, row.usage_source) == ("google", "gemini-2.5-flash", "otel")
    assert row.tokens == tokens(input_tokens=1000, output_tokens=200)
    assert row.cost_pico == 1000 * 300_000 + 200 * 2_500_000  # 0.30 in, 2.50 out


def test_spans_that_are_not_genai_calls_with_usage_make_no_row(ledger: Any, tracer: Tracer) -> None:
    with (
        tracer.start_as_current_span("GET /checkout", attributes={"http.method": "GET"}),
        tracer.start_as_current_span("chat", attributes={"gen_ai.provider.name": "openai"}),
    ):
        pass  # a call that failed: the instrumentation set no usage
    assert ledger.rows() == []


def test_a_span_around_an_instrumented_client_is_recorded_once_by_the_client(
    fake: Any, ledger: Any, tracer: Tracer
) -> None:
    fake.serve(reply("openai_chat.json"))
    before = sink.duplicates["openai"]
    client = llmledger.instrument(openai_client(fake), "openai")
    with client, llmledger.tags(tenant="acme"):
        traced_chat(tracer, client)
    [row] = ledger.rows()
    assert (row.usage_source, row.http_status, row.cost_pico) == ("response", 200, CHAT_COST)
    assert row.tags == {"tenant": "acme"}
    assert sink.duplicates["openai"] == before + 1


def test_tag_mappings_are_checked_where_they_are_given() -> None:
    with pytest.raises(TypeError, match=r"span_tags\['tenant'\] must name an attribute"):
        SpanProcessor(span_tags={"tenant": ""})
    with pytest.raises(TypeError, match="tag keys must be non-empty strings"):
        SpanProcessor(resource_tags={"": "service.name"})
