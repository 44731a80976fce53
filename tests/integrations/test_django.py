"""A Django project under its test clients (WSGI and ASGI), with TagsMiddleware and the
LLMLEDGER_TAGS settings hook, making calls through instrumented SDK clients to the fake
provider: every row carries its request's tags, streamed responses included."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import django
import openai
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from fakeprovider import reply
from integration_cases import CHAT, CHAT_COST, CHAT_STREAM_COST, tokens

import llmledger
from llmledger.integrations.django import TagsMiddleware

MESSAGES = [{"role": "user", "content": "hi"}]
LLM: dict[str, Any] = {}


def request_tags(request: HttpRequest) -> dict[str, str]:
    """The project's settings hook."""
    return {"tenant": request.headers.get("x-tenant", ""), "route": request.path}


def chat(request: HttpRequest) -> JsonResponse:
    answer = LLM["sync"].chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    return JsonResponse({"answer": answer.choices[0].message.content})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[str]:
        # Runs as the server sends the body, after the middleware returned.
        chunks = LLM["sync"].chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                     stream=True)  # fmt: skip
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return StreamingHttpResponse(body(), content_type="text/plain")


async def achat(request: HttpRequest) -> JsonResponse:
    answer = await LLM["async"].chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    return JsonResponse({"answer": answer.choices[0].message.content})


urlpatterns = [path("chat", chat), path("stream", stream), path("achat", achat)]

if not settings.configured:
    settings.configure(
        SECRET_KEY="test",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["llmledger.integrations.django.TagsMiddleware"],
        LLMLEDGER_TAGS=f"{__name__}.request_tags",
        INSTALLED_APPS=[],
    )
    django.setup()


@pytest.fixture(autouse=True)
def clients(fake: Any) -> Iterator[None]:
    LLM["sync"] = llmledger.instrument(
        openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0), "openai"
    )
    yield
    LLM.pop("sync").close()


def test_each_call_carries_its_requests_tags(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    client = Client()
    assert client.get("/chat", headers={"x-tenant": "acme"}).json() == {
        "answer": "The capital of France is Paris."
    }
    client.get("/chat", headers={"x-tenant": "globex"})
    rows = ledger.rows()
    assert [r.tags for r in rows] == [
        {"tenant": "acme", "route": "/chat"},
        {"tenant": "globex", "route": "/chat"},
    ]
    assert [(r.tokens, r.cost_pico) for r in rows] == [(tokens(**CHAT), CHAT_COST)] * 2


def test_a_call_made_while_the_body_streams_carries_the_tags(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    response = Client().get("/stream", headers={"x-tenant": "acme"})
    assert b"".join(response.streaming_content) == b"Hello there! How can I help you today?"
    [row] = ledger.rows()
    assert row.tags == {"tenant": "acme", "route": "/stream"}
    assert (row.usage_source, row.cost_pico) == ("stream_final", CHAT_STREAM_COST)


def test_async_views_under_asgi(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))

    async def main() -> None:
        LLM["async"] = llmledger.instrument(
            openai.AsyncOpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0),
            "openai",
        )
        try:
            client = AsyncClient()
            await asyncio.gather(
                client.get("/achat", headers={"x-tenant": "acme"}),
                client.get("/achat", headers={"x-tenant": "globex"}),
            )
        finally:
            await LLM.pop("async").close()

    asyncio.run(main())
    rows = ledger.rows()
    assert sorted(r.tags["tenant"] for r in rows) == ["acme", "globex"]
    assert [r.cost_pico for r in rows] == [CHAT_COST, CHAT_COST]


def test_requests_without_calls_record_nothing(ledger: Any) -> None:
    client = Client()
    for _ in range(10):
        assert client.get("/missing").status_code == 404
    assert ledger.rows() == []


def test_the_settings_hook_is_required_at_startup() -> None:
    with override_settings(LLMLEDGER_TAGS=None), pytest.raises(ImproperlyConfigured):
        TagsMiddleware(lambda request: None)
