"""A response whose body is already in memory is recorded like the same body streamed:
`httpx2.MockTransport` with `content=` or `json=` (how apps and respx-style mocks test their
LLM code), and transports that buffer or cache responses. The SDK never reads such a body
through the stream, so capture tees it when the transport hands it over."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from capture_cases import CASES, Case, chat
from fakeprovider import reply
from fakeprovider.clients import make_client
from fakeprovider.server import RESPONSES

from llmledger.capture import async_httpx_client, httpx_client, instrument, problems

# The SDKs' own hosts, which the registry knows: a mock answers in their place.
BASE_URLS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com",
}


def body_of(case: Case) -> tuple[bytes, str]:
    data = (RESPONSES / case.fixture).read_bytes()
    return data, "text/event-stream" if case.stream else "application/json"


def responder(form: str, data: bytes, content_type: str, status: int = 200) -> Callable:
    """A MockTransport handler answering with the body in memory (`content=` / `json=`) or
    as a stream of chunks (`content=` an iterator), the control."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": content_type}
        if form == "json":
            return httpx2.Response(status, json=json.loads(data))
        if form == "content":
            return httpx2.Response(status, content=data, headers=headers)
        chunks: Iterator[bytes] = iter([data[: len(data) // 2], data[len(data) // 2 :]])
        return httpx2.Response(status, content=chunks, headers=headers)

    return handle


def mocked_client(sdk: str, handler: Callable) -> tuple[Any, httpx2.Client]:
    http = httpx_client(transport=httpx2.MockTransport(handler))
    key = "httpx_client" if sdk == "google" else "http_client"
    return make_client(sdk, BASE_URLS[sdk], **{key: http}), http


def assert_case_row(row: Any, case: Case) -> None:
    assert (row.provider, row.model, row.usage_source) == (case.sdk, case.model, case.usage_source)
    assert row.tokens == {**dict.fromkeys(row.tokens, 0), **case.tokens}
    assert row.cost_pico == case.cost_pico
    assert row.provider_response_id == case.response_id


@pytest.mark.parametrize("form", ["content", "json", "streamed"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_mocked_body_is_recorded_in_memory_or_streamed(
    case: Case, form: str, ledger: Any
) -> None:
    data, content_type = body_of(case)
    if form == "json" and case.stream:
        pytest.skip("json= makes a JSON body, not an event stream")
    client, http = mocked_client(case.sdk, responder(form, data, content_type))
    with http, client:
        result = case.call(client, case.stream)
        if case.stream:
            list(result)
    [row] = ledger.rows()
    assert_case_row(row, case)


def test_an_async_mocked_body_is_recorded(ledger: Any) -> None:
    [case] = [c for c in CASES if c.id == "openai-chat"]
    data, content_type = body_of(case)

    async def main() -> str:
        http = async_httpx_client(
            transport=httpx2.MockTransport(responder("content", data, content_type))
        )
        async with openai.AsyncOpenAI(api_key="sk-test", http_client=http, max_retries=0) as client:
            response = await chat(client, False)
        return response.choices[0].message.content

    assert asyncio.run(main()) == "The capital of France is Paris."
    [row] = ledger.rows()
    assert_case_row(row, case)


def test_a_mocked_error_is_recorded_as_failed_once(ledger: Any) -> None:
    data = (RESPONSES / "openai_error_429.json").read_bytes()
    client, http = mocked_client("openai", responder("content", data, "application/json", 429))
    with http, client, pytest.raises(openai.RateLimitError):
        chat(client, False)
    [row] = ledger.rows()
    assert (row.status, row.http_status, row.cost_pico) == ("error", 429, 0)


class ReadingTransport(httpx2.BaseTransport):
    """A transport that reads each response into memory before handing it on, as a caching
    or buffering transport does."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("case", [c for c in CASES if c.sdk == "openai"], ids=lambda c: c.id)
def test_a_body_read_by_the_transport_is_recorded_once(case: Case, fake: Any, ledger: Any) -> None:
    fake.serve(reply(case.fixture))
    before = dict(problems)
    http = httpx2.Client(transport=ReadingTransport())
    with instrument(make_client("openai", fake.url, http_client=http), "openai") as client:
        result = case.call(client, case.stream)
        if case.stream:
            list(result)
    [row] = ledger.rows()
    assert_case_row(row, case)
    assert dict(problems) == before
