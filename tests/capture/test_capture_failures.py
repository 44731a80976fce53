"""Failed calls are recorded with their status; nothing capture does can break the app's call."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from capture_cases import chat, generate, messages
from fakeprovider import Reply, reply
from fakeprovider.clients import make_client
from google.genai import errors as genai_errors

from llmledger.capture import instrument, problems, tee
from llmledger.record import recorder
from llmledger.store.schema import BUCKETS


def assert_failed(row: Any, provider: str, model: str, http_status: int) -> None:
    assert (row.provider, row.model, row.status) == (provider, model, "error")
    assert row.http_status == http_status
    assert row.tokens == dict.fromkeys(BUCKETS, 0)
    assert row.cost_pico == 0  # failed calls are not billed
    assert row.provider_response_id is None


@pytest.mark.parametrize(
    ("sdk", "fixture", "status", "call", "error", "model"),
    [
        ("openai", "openai_error_429.json", 429, chat, openai.RateLimitError, "gpt-4o-mini"),
        (
            "anthropic",
            "anthropic_error_500.json",
            500,
            messages,
            anthropic.InternalServerError,
            "claude-haiku-4-5",
        ),
        # Gemini names the model in the URL, not the body.
        (
            "google",
            "gemini_error_429.json",
            429,
            generate,
            genai_errors.ClientError,
            "gemini-2.5-flash",
        ),
    ],
)
def test_http_error_is_recorded_as_failed_and_raised_as_before(
    sdk: str, fixture: str, status: int, call: Any, error: type, model: str, fake: Any,
    ledger: Any,
) -> None:  # fmt: skip
    fake.serve(reply(fixture, status=status))
    with make_client(sdk, fake.url) as plain, pytest.raises(error) as expected:
        call(plain, False)
    with (
        instrument(make_client(sdk, fake.url), provider=sdk) as client,
        pytest.raises(error) as got,
    ):
        call(client, False)
    assert str(got.value) == str(expected.value)
    [row] = ledger.rows()
    assert_failed(row, sdk, model, status)


def test_each_retry_is_a_recorded_failure(fake: Any, ledger: Any) -> None:
    # retry-after-ms keeps the SDK's back-off to a millisecond
    fake.serve(reply("openai_error_429.json", status=429, headers=(("retry-after-ms", "1"),)))
    client = instrument(make_client("openai", fake.url, max_retries=2), provider="openai")
    with client, pytest.raises(openai.RateLimitError):
        chat(client, False)
    assert len(ledger.rows()) == 3
    for row in ledger.rows():
        assert_failed(row, "openai", "gpt-4o-mini", 429)


def test_non_llm_requests_pass_through_unrecorded(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_models.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
        client.moderations.create(input="hello")  # a POST, but not a priced LLM endpoint
    assert ledger.rows() == []


def test_malformed_body_reaches_the_app_as_before(fake: Any, ledger: Any) -> None:
    fake.serve(Reply(b'{"id": "chatcmpl-x", "choices": [tru'))
    with make_client("openai", fake.url) as plain, pytest.raises(Exception) as expected:
        chat(plain, False)
    before = problems["parse"]
    client = instrument(make_client("openai", fake.url), provider="openai")
    with client, pytest.raises(type(expected.value)):
        chat(client, False)
    [row] = ledger.rows()
    assert row.usage_source == "estimated"  # what the request says, never zero
    assert row.tokens["input_tokens"] > 0
    assert problems["parse"] == before + 1


def test_a_failing_recorder_never_reaches_the_app(
    fake: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("recorder down")

    monkeypatch.setattr(recorder, "ledger_row", broken)
    before = problems["record"]
    fake.serve(reply("openai_chat_stream.sse"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        chunks = list(chat(client, True))
    assert chunks[-1].usage.prompt_tokens == 19
    assert ledger.rows() == []  # the call is recorded on the writer thread; rows() waits for it
    assert problems["record"] == before + 1


def test_a_failing_parser_never_reaches_the_app(
    fake: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Exploding:
        def __init__(self, *args: Any) -> None:
            pass

        def feed(self, chunk: bytes) -> None:
            raise ValueError("parser bug")

    monkeypatch.setattr(tee, "UsageParser", Exploding)
    before = problems["parse"]
    fake.serve(reply("anthropic_messages_stream.sse"))
    with instrument(make_client("anthropic", fake.url), provider="anthropic") as client:
        events = [e.type for e in messages(client, True)]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    [row] = ledger.rows()
    assert problems["parse"] == before + 1
    assert row.usage_source == "estimated"
    assert row.tokens["input_tokens"] > 0


def test_a_failing_route_never_reaches_the_app(
    fake: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("registry bug")

    monkeypatch.setattr("llmledger.capture.transport.route", broken)
    before = problems["capture"]
    fake.serve(reply("openai_chat.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        assert chat(client, False).usage.prompt_tokens == 2006
    assert ledger.rows() == []
    assert problems["capture"] == before + 1
