"""LangChain's ChatOpenAI pointed at the fake provider, with the ledger's handler: every call
recorded once, from LangChain's usage_metadata, exact costs, the tags of the call's start."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from fakeprovider import reply
from integration_cases import CHAT, CHAT_COST, CHAT_ID, CHAT_STREAM, CHAT_STREAM_COST, tokens
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

import llmledger
from llmledger.capture import sink
from llmledger.integrations.langchain import Handler

_made: list[ChatOpenAI] = []


@pytest.fixture(autouse=True)
def close_models() -> Iterator[None]:
    yield
    while _made:
        _made.pop().root_client.close()


def chat_model(fake: Any, **kw: Any) -> ChatOpenAI:
    """A ChatOpenAI on HTTP clients of its own: by default every ChatOpenAI shares one, which
    an instrumented test would leave instrumented, and whose pool would outlive a test's
    event loop."""
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake.url + "/v1", api_key="sk-test",
                     max_retries=0, http_client=httpx2.Client(),
                     http_async_client=httpx2.AsyncClient(), **kw)  # fmt: skip
    _made.append(llm)
    return llm


def run_async(llm: ChatOpenAI, work: Callable[[], Awaitable[Any]]) -> None:
    """Run `work()` on a new event loop, closing the model's async client before it ends."""

    async def main() -> None:
        try:
            await work()
        finally:
            await llm.root_async_client.close()

    asyncio.run(main())


def test_a_chain_call_is_recorded_with_the_tags_of_its_start(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    chain = ChatPromptTemplate.from_template("Capital of {country}?") | chat_model(fake)
    with llmledger.tags(tenant="acme", feature="geo"):
        answer = chain.invoke({"country": "France"}, config={"callbacks": [Handler()]})
    assert answer.content == "The capital of France is Paris."
    [row] = ledger.rows()
    assert (row.provider, row.model) == ("openai", "gpt-4o-mini-2024-07-18")
    assert row.tokens == tokens(**CHAT)
    assert row.cost_pico == CHAT_COST == 336_900_000
    assert (row.usage_source, row.provider_response_id) == ("response", CHAT_ID)
    assert row.http_status is None  # reported by LangChain, not seen on the wire
    assert row.tags == {"tenant": "acme", "feature": "geo"}


def test_a_stream_is_recorded_when_it_ends(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    llm = chat_model(fake)
    with llmledger.tags(tenant="acme"):
        stream = llm.stream("hi", config={"callbacks": [Handler()]})
        text = "".join(chunk.content for chunk in stream)
    assert text == "Hello there! How can I help you today?"
    [row] = ledger.rows()
    assert row.tokens == tokens(**CHAT_STREAM)
    assert row.cost_pico == CHAT_STREAM_COST == 8_850_000
    assert row.usage_source == "stream_final"
    assert row.tags == {"tenant": "acme"}


def test_a_handler_on_the_model_records_async_calls(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    llm = chat_model(fake, callbacks=[Handler()])

    async def one(tenant: str) -> None:
        with llmledger.tags(tenant=tenant):
            await llm.ainvoke("hi")

    run_async(llm, lambda: asyncio.gather(one("acme"), one("globex")))
    rows = ledger.rows()
    assert sorted(r.tags["tenant"] for r in rows) == ["acme", "globex"]
    assert [r.cost_pico for r in rows] == [CHAT_COST, CHAT_COST]


def test_calls_through_an_instrumented_client_are_recorded_once_by_the_client(
    fake: Any, ledger: Any
) -> None:
    llm = chat_model(fake)
    llmledger.instrument(llm.root_client, "openai")
    llmledger.instrument(llm.root_async_client, "openai")
    before = sink.duplicates["openai"]
    handler = Handler()
    with llmledger.tags(tenant="acme"):
        fake.serve(reply("openai_chat.json"))
        llm.invoke("hi", config={"callbacks": [handler]})
        run_async(llm, lambda: llm.ainvoke("hi", config={"callbacks": [handler]}))
        # A stream: LangChain keeps no response id on it, the open call is what tells.
        fake.serve(reply("openai_chat_stream.sse"))
        for _ in llm.stream("hi", config={"callbacks": [handler]}):
            pass
    rows = ledger.rows()
    assert [(r.http_status, r.usage_source, r.cost_pico, r.tags) for r in rows] == [
        (200, "response", CHAT_COST, {"tenant": "acme"}),
        (200, "response", CHAT_COST, {"tenant": "acme"}),
        (200, "stream_final", CHAT_STREAM_COST, {"tenant": "acme"}),
    ]
    assert sink.duplicates["openai"] == before + 3


def test_a_failed_call_is_not_recorded_and_leaves_nothing_open(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_error_429.json", status=429))
    handler = Handler()
    with pytest.raises(openai.RateLimitError):  # LangChain's subclass of it
        chat_model(fake).invoke("hi", config={"callbacks": [handler]})
    assert ledger.rows() == []
    assert handler._runs == {}
