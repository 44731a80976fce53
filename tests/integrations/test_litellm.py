"""LiteLLM pointed at the fake provider, with the ledger's callback: every call recorded
once, LiteLLM's usage in the disjoint buckets, exact costs, the tags of the call's start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import litellm
import openai
import pytest
from fakeprovider import reply
from integration_cases import (
    CHAT,
    CHAT_COST,
    CHAT_ID,
    CHAT_STREAM,
    CHAT_STREAM_COST,
    CHAT_STREAM_ID,
    tokens,
)

import llmledger
from llmledger.capture import sink
from llmledger.integrations.litellm import callback

MESSAGES = [{"role": "user", "content": "hi"}]

# LiteLLM's own models warn as pydantic builds them; nothing of ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*fields' attribute on the instance"),
]


@pytest.fixture(autouse=True)
def ledger_callback() -> Iterator[None]:
    saved = litellm.callbacks
    litellm.callbacks = [callback()]
    yield
    litellm.callbacks = saved


@pytest.fixture(autouse=True)
def event_loop_for_litellm() -> Iterator[None]:
    """LiteLLM's synchronous calls ask for this thread's event loop, which creates one that
    nothing closes; give it one that is closed after the test."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def openai_call(fake: Any, **kw: Any) -> Any:
    return litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES,
                              api_base=fake.url + "/v1", api_key="sk-test", **kw)  # fmt: skip


def test_a_call_is_recorded_with_litellms_usage_and_the_tags_of_its_start(
    fake: Any, ledger: Any
) -> None:
    fake.serve(reply("openai_chat.json"))
    with llmledger.tags(tenant="acme", feature="chat"):
        openai_call(fake)
    [row] = ledger.wait_rows(1)
    assert (row.provider, row.model) == ("openai", "gpt-4o-mini-2024-07-18")
    assert row.tokens == tokens(**CHAT)
    assert row.cost_pico == CHAT_COST == 336_900_000
    assert row.usage_source == "response"
    assert row.provider_response_id == CHAT_ID
    assert row.tags == {"tenant": "acme", "feature": "chat"}


def test_a_stream_read_outside_the_scope_keeps_the_tags_of_its_start(
    fake: Any, ledger: Any
) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    with llmledger.tags(tenant="acme"):
        stream = openai_call(fake, stream=True)
    with llmledger.tags(tenant="other"):
        assert "".join(c.choices[0].delta.content or "" for c in stream) == (
            "Hello there! How can I help you today?"
        )
    [row] = ledger.wait_rows(1)
    assert row.tokens == tokens(**CHAT_STREAM)
    assert row.cost_pico == CHAT_STREAM_COST == 8_850_000
    assert (row.usage_source, row.provider_response_id) == ("stream_final", CHAT_STREAM_ID)
    assert row.tags == {"tenant": "acme"}


def test_anthropic_caches_map_onto_their_buckets(fake: Any, ledger: Any) -> None:
    # LiteLLM counts Anthropic's cache reads and writes inside prompt_tokens (13025).
    fake.serve(reply("anthropic_messages.json"))
    with llmledger.tags(tenant="acme"):
        litellm.completion(model="anthropic/claude-haiku-4-5", messages=MESSAGES,
                           api_base=fake.url, api_key="sk-ant-test")  # fmt: skip
    [row] = ledger.wait_rows(1)
    assert (row.provider, row.model) == ("anthropic", "claude-haiku-4-5-20251001")
    assert row.tokens == tokens(input_tokens=25, cache_read_tokens=10000,
                                cache_write_tokens=1000, cache_write_1h_tokens=2000,
                                output_tokens=120)  # fmt: skip
    # 25 x 1.00 + 10000 x 0.10 + 1000 x 1.25 + 2000 x 2.00 + 120 x 5.00 (USD per million)
    assert row.cost_pico == 25_000_000 + 1_000_000_000 + 1_250_000_000 + 4_000_000_000 + 600_000_000
    assert row.tags == {"tenant": "acme"}


def test_an_anthropic_stream(fake: Any, ledger: Any) -> None:
    fake.serve(reply("anthropic_messages_stream.sse"))
    with llmledger.tags(job="nightly"):
        stream = litellm.completion(
            model="anthropic/claude-haiku-4-5", messages=MESSAGES, api_base=fake.url,
            api_key="sk-ant-test", stream=True,
        )  # fmt: skip
        for _ in stream:
            pass
    [row] = ledger.wait_rows(1)
    assert (row.provider, row.usage_source) == ("anthropic", "stream_final")
    assert row.tokens == tokens(input_tokens=472, output_tokens=15)
    assert row.cost_pico == 472 * 1_000_000 + 15 * 5_000_000 == 547_000_000
    assert row.tags == {"job": "nightly"}


def test_async_calls_and_streams(fake: Any, ledger: Any) -> None:
    async def main() -> None:
        with llmledger.tags(tenant="async"):
            fake.serve(reply("openai_chat.json"))
            await litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES,
                                      api_base=fake.url + "/v1", api_key="sk-test")  # fmt: skip
            fake.serve(reply("openai_chat_stream.sse"))
            stream = await litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES,
                                               api_base=fake.url + "/v1", api_key="sk-test",
                                               stream=True)  # fmt: skip
            async for _ in stream:
                pass
        # LiteLLM reports async calls from a task of its own on this loop: let it run.
        for _ in range(500):
            if len(llmledger.calls()) == 2:
                break
            await asyncio.sleep(0.02)

    asyncio.run(main())
    rows = ledger.wait_rows(2)
    assert [(r.usage_source, r.cost_pico, r.tags) for r in rows] == [
        ("response", CHAT_COST, {"tenant": "async"}),
        ("stream_final", CHAT_STREAM_COST, {"tenant": "async"}),
    ]


def test_a_call_through_an_instrumented_client_is_recorded_once_by_the_client(
    fake: Any, ledger: Any
) -> None:
    client = llmledger.instrument(
        openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0), "openai"
    )
    before = sink.duplicates["openai"]
    with llmledger.tags(tenant="acme"):
        fake.serve(reply("openai_chat.json"))
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, client=client)
        fake.serve(reply("openai_chat_stream.sse"))
        for _ in litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES,
                                    client=client, stream=True):  # fmt: skip
            pass
    deadline = time.monotonic() + 10
    while sink.duplicates["openai"] < before + 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # LiteLLM reports a synchronous call from a thread of its own
    rows = ledger.rows()
    # The client's rows: they carry the HTTP status only the wire shows.
    assert [(r.http_status, r.usage_source, r.cost_pico, r.tags) for r in rows] == [
        (200, "response", CHAT_COST, {"tenant": "acme"}),
        (200, "stream_final", CHAT_STREAM_COST, {"tenant": "acme"}),
    ]
    assert sink.duplicates["openai"] == before + 2


def test_an_async_call_through_an_instrumented_client_is_recorded_once(
    fake: Any, ledger: Any
) -> None:
    async def main() -> None:
        client = llmledger.instrument(
            openai.AsyncOpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0),
            "openai",
        )
        fake.serve(reply("openai_chat.json"))
        with llmledger.tags(tenant="acme"):
            await litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES,
                                      client=client)  # fmt: skip
        for _ in range(500):
            if sink.duplicates["openai"] > before:
                break
            await asyncio.sleep(0.02)
        await client.close()

    before = sink.duplicates["openai"]
    asyncio.run(main())
    [row] = ledger.rows()
    assert (row.http_status, row.cost_pico, row.tags) == (200, CHAT_COST, {"tenant": "acme"})
    assert sink.duplicates["openai"] == before + 1
