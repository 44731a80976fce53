"""A Celery app with a real worker in this process (a worker thread on the in-memory broker,
not eager mode), whose tasks make calls through an instrumented SDK client to the fake
provider: the tags in scope when a task is sent are on its rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from fakeprovider import reply
from integration_cases import CHAT, CHAT_COST, tokens

import llmledger
from llmledger.integrations.celery import propagate_tags

app = Celery("ledger-tests", broker="memory://", backend="cache+memory://")
app.conf.task_always_eager = False
propagate_tags(app)
LLM: dict[str, openai.OpenAI] = {}


@app.task
def summarise() -> str:
    answer = LLM["client"].chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    return answer.choices[0].message.content or ""


@app.task
def digest() -> str:
    """A task that sends another, with a tag of its own added."""
    with llmledger.tags(step="digest"):
        return summarise.delay().id


@app.task
def scope_now() -> dict[str, str]:
    return dict(llmledger.tagging.current())


@pytest.fixture
def worker(fake: Any) -> Iterator[None]:
    LLM["client"] = llmledger.instrument(
        openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", max_retries=0), "openai"
    )
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        yield
    LLM.pop("client").close()


def test_the_tags_of_the_sender_are_on_the_tasks_rows(fake: Any, ledger: Any, worker: None) -> None:
    fake.serve(reply("openai_chat.json"))
    with llmledger.tags(tenant="acme", user_id=7):
        sent = summarise.delay()
    assert sent.get(timeout=20) == "The capital of France is Paris."
    with llmledger.tags(tenant="globex"):
        inner = digest.delay().get(timeout=20)
    app.AsyncResult(inner).get(timeout=20)
    summarise.delay().get(timeout=20)  # sent outside any scope
    rows = ledger.rows()
    assert [r.tags for r in rows] == [
        {"tenant": "acme", "user_id": "7"},
        {"tenant": "globex", "step": "digest"},
        {},
    ]
    assert [(r.tokens, r.cost_pico) for r in rows] == [(tokens(**CHAT), CHAT_COST)] * 3


def test_the_worker_leaves_each_tasks_scope_when_it_ends(worker: None) -> None:
    with llmledger.tags(tenant="acme"):
        assert scope_now.delay().get(timeout=20) == {"tenant": "acme"}
    assert scope_now.delay().get(timeout=20) == {}
