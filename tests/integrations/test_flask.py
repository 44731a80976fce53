"""A Flask app under its test client, with `init_app`, making calls through an instrumented
SDK client to the fake provider: every row carries its request's tags, streamed bodies
included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fakeprovider import reply
from flask import Flask, Request, g, request
from integration_cases import CHAT, CHAT_COST, CHAT_STREAM_COST, tokens

import llmledger
import llmledger.integrations.flask
from llmledger.capture import sink

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(fake: Any) -> Iterator[openai.OpenAI]:
    with llmledger.instrument(
        openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0), "openai"
    ) as c:
        yield c


def make_app(llm: openai.OpenAI, tags: Any = None) -> Flask:
    app = Flask(__name__)

    @app.before_request
    def tenancy() -> None:  # the app's own hook, registered before init_app: it runs first
        g.tenant = request.headers.get("x-tenant", "")

    def request_tags(req: Request) -> dict[str, str]:
        return {"tenant": g.tenant, "route": req.path}

    llmledger.integrations.flask.init_app(app, tags=tags or request_tags)

    @app.get("/chat")
    def chat() -> dict[str, str]:
        answer = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return {"answer": answer.choices[0].message.content}

    @app.get("/stream")
    def stream() -> Any:
        def body() -> Iterator[str]:
            # Runs as the server sends the body, after the request was torn down.
            chunks = llm.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                 stream=True)  # fmt: skip
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        return app.response_class(body(), mimetype="text/plain")

    @app.get("/health")
    def health() -> str:
        return "ok"

    return app


def test_each_call_carries_its_requests_tags(fake: Any, ledger: Any, client: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    http = make_app(client).test_client()
    assert http.get("/chat", headers={"x-tenant": "acme"}).json == {
        "answer": "The capital of France is Paris."
    }
    http.get("/chat", headers={"x-tenant": "globex"})
    with llmledger.tags(tenant="outside"):  # the request's scope ended with it
        assert llmledger.tagging.current() == {"tenant": "outside"}
    rows = ledger.rows()
    assert [r.tags for r in rows] == [
        {"tenant": "acme", "route": "/chat"},
        {"tenant": "globex", "route": "/chat"},
    ]
    assert [(r.tokens, r.cost_pico) for r in rows] == [(tokens(**CHAT), CHAT_COST)] * 2


def test_a_call_made_while_the_body_streams_carries_the_tags(
    fake: Any, ledger: Any, client: Any
) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    response = make_app(client).test_client().get("/stream", headers={"x-tenant": "acme"})
    assert response.text == "Hello there! How can I help you today?"
    assert dict(llmledger.tagging.current()) == {}
    [row] = ledger.rows()
    assert row.tags == {"tenant": "acme", "route": "/stream"}
    assert (row.usage_source, row.cost_pico) == ("stream_final", CHAT_STREAM_COST)


def test_requests_without_calls_record_nothing(ledger: Any, client: Any) -> None:
    http = make_app(client).test_client()
    for _ in range(20):
        assert http.get("/health").text == "ok"
    assert ledger.rows() == []


def test_a_failing_tags_callable_does_not_fail_the_request(
    fake: Any, ledger: Any, client: Any
) -> None:
    fake.serve(reply("openai_chat.json"))
    before = sink.problems["tags"]
    http = make_app(client, tags=lambda req: {"": "no key"}).test_client()
    assert http.get("/chat").status_code == 200
    [row] = ledger.rows()
    assert (row.tags, row.cost_pico) == ({}, CHAT_COST)
    assert sink.problems["tags"] == before + 1
