"""A Starlette app (FastAPI's base) under its test client, with TagsMiddleware, making calls
through an instrumented SDK client to the fake provider: every row carries its request's
tags, streamed responses included."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from fakeprovider import reply
from integration_cases import CHAT, CHAT_COST, CHAT_STREAM_COST, tokens
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

import llmledger
from llmledger.capture import sink
from llmledger.integrations.starlette import TagsMiddleware

MESSAGES = [{"role": "user", "content": "hi"}]


class Tenancy:
    """The app's own middleware, run before the tags callable: the tenant on request.state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            scope.setdefault("state", {})["tenant"] = headers.get(b"x-tenant", b"").decode()
        await self.app(scope, receive, send)


def request_tags(request: Request) -> dict[str, str]:
    return {"tenant": request.state.tenant, "route": request.url.path}


def make_app(fake: Any, tags: Any = request_tags) -> Starlette:
    llm: dict[str, openai.AsyncOpenAI] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        llm["client"] = llmledger.instrument(
            openai.AsyncOpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0),
            "openai",
        )
        yield
        await llm["client"].close()

    async def chat(request: Request) -> JSONResponse:
        answer = await llm["client"].chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return JSONResponse({"answer": answer.choices[0].message.content})

    async def stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            # The call starts while the response streams, after the endpoint returned.
            chunks = await llm["client"].chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        return StreamingResponse(body(), media_type="text/plain")

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/chat", chat), Route("/stream", stream), Route("/health", health)],
        middleware=[Middleware(Tenancy), Middleware(TagsMiddleware, tags=tags)],
        lifespan=lifespan,
    )


def test_each_call_carries_its_requests_tags(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    with TestClient(make_app(fake)) as client:
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


def test_a_call_made_while_the_response_streams_carries_the_tags(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    with TestClient(make_app(fake)) as client:
        response = client.get("/stream", headers={"x-tenant": "acme"})
    assert response.text == "Hello there! How can I help you today?"
    [row] = ledger.rows()
    assert row.tags == {"tenant": "acme", "route": "/stream"}
    assert (row.usage_source, row.cost_pico) == ("stream_final", CHAT_STREAM_COST)


def test_requests_without_calls_record_nothing(fake: Any, ledger: Any) -> None:
    with TestClient(make_app(fake)) as client:
        for _ in range(20):
            assert client.get("/health", headers={"x-tenant": "acme"}).text == "ok"
    assert ledger.rows() == []


def test_a_failing_tags_callable_does_not_fail_the_request(fake: Any, ledger: Any) -> None:
    def broken(request: Request) -> dict[str, str]:
        raise LookupError("no tenant")

    fake.serve(reply("openai_chat.json"))
    before = sink.problems["tags"]
    with TestClient(make_app(fake, tags=broken)) as client:
        assert client.get("/chat").status_code == 200
    [row] = ledger.rows()
    assert (row.tags, row.cost_pico) == ({}, CHAT_COST)
    assert sink.problems["tags"] == before + 1


def test_the_tags_must_be_a_callable() -> None:
    with pytest.raises(TypeError, match="tags must be a callable"):
        TagsMiddleware(PlainTextResponse("ok"), tags={"tenant": "acme"})  # type: ignore[arg-type]
