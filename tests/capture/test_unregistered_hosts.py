"""A client built on `httpx_client()` and pointed at a host the registry does not know (a
proxy, a gateway, a local server) records its LLM calls as the provider whose path they use,
and says once per host how to name it; requests that are not LLM calls stay unrecorded."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from capture_cases import CASES, Case
from fakeprovider import reply
from fakeprovider.clients import make_client

from llmledger.capture import httpx_client, instrument, is_instrumented, problems, transport


@pytest.fixture(autouse=True)
def _forget_noted_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Unregistered hosts are reported once per process; each test starts afresh.
    monkeypatch.setattr(transport, "_unregistered_seen", set())


def explicit_client(sdk: str, url: str, http: Any) -> Any:
    """A real SDK client given an instrumented httpx2 client, with no provider named."""
    return make_client(sdk, url, **{"httpx_client" if sdk == "google" else "http_client": http})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_calls_through_an_unregistered_host_are_recorded_as_the_paths_provider(
    case: Case, fake: Any, ledger: Any
) -> None:
    fake.serve(reply(case.fixture))
    # google-genai does not close an httpx2 client it was given: the test does.
    with httpx_client() as http, explicit_client(case.sdk, fake.url, http) as client:
        assert is_instrumented(client)
        result = case.call(client, case.stream)
        if case.stream:
            list(result)
    [row] = ledger.rows()
    assert row.provider == case.sdk
    assert (row.model, row.usage_source) == (case.model, case.usage_source)
    assert row.tokens == {**dict.fromkeys(row.tokens, 0), **case.tokens}
    assert row.cost_pico == case.cost_pico


def test_an_unregistered_host_is_counted_and_logged_once(
    fake: Any, ledger: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake.serve(reply("openai_chat.json"))
    host = fake.url.removeprefix("http://")
    before = problems["host"]
    with (
        caplog.at_level(logging.WARNING, logger="llmledger"),
        explicit_client("openai", fake.url, httpx_client()) as client,
    ):
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert len(ledger.rows()) == 3
    assert problems["host"] == before + 1
    [message] = [r.getMessage() for r in caplog.records if "host registry" in r.getMessage()]
    assert message == (
        f"llmledger capture: {host} is not in the host registry; its calls are recorded as "
        f"'openai'; register_host('{host}', <provider>) to name it"
    )


def test_an_instrumented_client_on_an_unregistered_host_says_so_too(fake: Any, ledger: Any) -> None:
    # instrument() falls back to the client's own provider, as documented; it says so once.
    fake.serve(reply("anthropic_messages.json"))
    before = problems["host"]
    with instrument(make_client("anthropic", fake.url)) as client:
        for _ in range(2):
            client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[])
    assert [r.provider for r in ledger.rows()] == ["anthropic", "anthropic"]
    assert problems["host"] == before + 1


def test_requests_that_are_not_llm_calls_are_neither_recorded_nor_counted(
    fake: Any, ledger: Any
) -> None:
    fake.serve(reply("openai_models.json"))
    before = problems["host"]
    with explicit_client("openai", fake.url, httpx_client()) as client:
        assert [m.id for m in client.models.list()]
    assert ledger.rows() == []
    assert problems["host"] == before
