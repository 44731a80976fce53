"""Every endpoint, through the real SDK clients, sync and async, plain and streaming: the app
gets exactly what an uninstrumented client gets, and the ledger gets one exact row."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from capture_cases import CASES, Case
from fakeprovider import Reply, reply
from fakeprovider.clients import aclose_client, make_client

import llmledger
from llmledger.capture import instrument, sink, tee
from llmledger.store.schema import BUCKETS


def dump(obj: Any) -> Any:
    return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else obj


def run_sync(case: Case, client: Any) -> Any:
    result = case.call(client, case.stream)
    return [dump(x) for x in result] if case.stream else dump(result)


async def run_async(case: Case, client: Any) -> Any:
    result = await case.call(client, case.stream)
    return [dump(x) async for x in result] if case.stream else dump(result)


def assert_row(row: Any, case: Case) -> None:
    assert row.provider == case.sdk
    assert row.model == case.model
    assert row.tokens == dict.fromkeys(BUCKETS, 0) | case.tokens
    assert row.cost_pico == case.cost_pico
    assert row.usage_source == case.usage_source
    assert row.status == "ok"
    assert row.http_status == 200
    assert row.provider_response_id == case.response_id
    assert row.pricing_mode == "standard"
    assert row.latency_ms > 0
    assert row.tags == {"feature": case.id}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sync_call_is_unchanged_and_recorded(case: Case, fake: Any, ledger: Any) -> None:
    fake.serve(reply(case.fixture))
    with make_client(case.sdk, fake.url) as plain:
        expected = run_sync(case, plain)
    assert ledger.rows() == []
    client = instrument(make_client(case.sdk, fake.url), provider=case.sdk)
    with client, llmledger.tags(feature=case.id):
        assert run_sync(case, client) == expected
    assert len(ledger.rows()) == 1
    assert_row(ledger.rows()[0], case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_body_past_the_hold_limit_is_parsed_as_it_comes(
    case: Case, fake: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bodies up to `HOLD_BYTES` are parsed on the writer thread; past it, on the app's, as
    # they arrive. A limit of 0 takes the second path from the first chunk: the same row.
    monkeypatch.setattr(tee, "HOLD_BYTES", 0)
    fake.serve(reply(case.fixture))
    client = instrument(make_client(case.sdk, fake.url), provider=case.sdk)
    with client, llmledger.tags(feature=case.id):
        run_sync(case, client)
    [row] = ledger.rows()
    assert_row(row, case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_async_call_is_unchanged_and_recorded(case: Case, fake: Any, ledger: Any) -> None:
    fake.serve(reply(case.fixture))

    async def both() -> tuple[Any, Any]:
        plain = make_client(case.sdk, fake.url, asynchronous=True)
        client = instrument(make_client(case.sdk, fake.url, asynchronous=True), case.sdk)
        try:
            return await run_async(case, plain), await run_async(case, client)
        finally:
            await aclose_client(plain)
            await aclose_client(client)

    with llmledger.tags(feature=case.id):
        expected, got = asyncio.run(both())
    if case.sdk == "google":
        # With aiohttp installed, instrument() sends google-genai's async requests through
        # httpx2, the SDK's other transport (see docs/capture.md): the response reports its
        # header names lower-cased, as the sync client's do, where aiohttp keeps the server's.
        expected, got = fold_header_names(expected), fold_header_names(got)
    assert got == expected
    assert len(ledger.rows()) == 1
    assert_row(ledger.rows()[0], case)


def fold_header_names(dumped: Any) -> Any:
    """`dumped` with the names in each `sdk_http_response`'s headers lower-cased."""
    if isinstance(dumped, list):
        return [fold_header_names(item) for item in dumped]
    response = dumped.get("sdk_http_response") or {}
    if response.get("headers"):
        headers = {name.lower(): value for name, value in response["headers"].items()}
        dumped = {**dumped, "sdk_http_response": {**response, "headers": headers}}
    return dumped


RAW = [c for c in CASES if c.sdk != "google"]  # google-genai has no raw-response API


@pytest.mark.parametrize("case", RAW, ids=lambda c: c.id)
def test_sdk_reads_the_bytes_sent(case: Case, fake: Any, ledger: Any) -> None:
    """Through the SDK's raw-response API, the instrumented client reads the server's bytes,
    here cut into 5-byte HTTP chunks that split events and UTF-8 sequences."""
    sent = fake.serve(reply(case.fixture, chunk_size=5)).body
    client = instrument(make_client(case.sdk, fake.url), provider=case.sdk)
    with (
        client,
        llmledger.tags(feature=case.id),
        case.call(client.with_streaming_response, case.stream) as response,
    ):
        body = b"".join(response.iter_bytes())
    assert body == sent
    assert len(ledger.rows()) == 1
    assert_row(ledger.rows()[0], case)


def test_service_tier_prices_the_call_in_its_mode(fake: Any, ledger: Any) -> None:
    """OpenAI's flex processing is billed at the flex rates: o4-mini 0.55 in, 0.138 cached,
    2.20 out (USD per million tokens)."""
    body = reply("openai_responses.json").body.replace(b'"default"', b'"flex"')
    fake.serve(Reply(body))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        assert client.responses.create(model="o4-mini", input="Hi").service_tier == "flex"
    [row] = ledger.rows()
    assert row.pricing_mode == "flex"
    # 476*550_000 + 1024*138_000 + (260 + 640)*2_200_000
    assert row.cost_pico == 2_383_112_000


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.id in ("anthropic-messages", "anthropic-messages-stream")],
    ids=lambda c: c.id,
)
def test_claude_on_vertex_ai_is_recorded_as_googles(case: Case, fake: Any, ledger: Any) -> None:
    # AnthropicVertex posts Anthropic's body to ".../models/<model>:rawPredict" (or
    # ":streamRawPredict") and reads Anthropic's reply; Google bills it.
    fake.serve(reply(case.fixture))
    vertex = anthropic.AnthropicVertex(
        region="us-east5", project_id="proj", access_token="token", base_url=fake.url + "/v1"
    )
    with instrument(vertex, provider="google") as client:
        run_sync(case, client)
    verb = "streamRawPredict" if case.stream else "rawPredict"
    assert fake.received[-1].path.endswith(f"/publishers/anthropic/models/claude-haiku-4-5:{verb}")
    [row] = ledger.rows()
    assert (row.provider, row.model, row.usage_source) == ("google", case.model, case.usage_source)
    assert row.tokens == dict.fromkeys(BUCKETS, 0) | case.tokens
    # Google bills Claude at Anthropic's rates: the same hand-worked cost as the direct call.
    assert row.cost_pico == case.cost_pico


def test_a_writer_behind_gets_rows_not_bodies(
    fake: Any, ledger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the writer's queue past `EAGER_AFTER`, the call's row is built on the app's thread
    # (a queued row is small; a queued call holds its body): the same exact row.
    monkeypatch.setattr(sink, "EAGER_AFTER", 0)
    case = next(c for c in CASES if c.id == "anthropic-messages-stream")
    fake.serve(reply(case.fixture))
    writer = llmledger.config.state().writer
    queued_kinds: list[type] = []
    submit, submit_later = writer.submit, writer.submit_later
    monkeypatch.setattr(writer, "submit", lambda row: (queued_kinds.append(dict), submit(row)))
    monkeypatch.setattr(
        writer, "submit_later", lambda make: (queued_kinds.append(type(make)), submit_later(make))
    )
    client = instrument(make_client(case.sdk, fake.url), provider=case.sdk)
    with client, llmledger.tags(feature=case.id):
        run_sync(case, client)
    assert queued_kinds == [dict]
    [row] = ledger.rows()
    assert_row(row, case)
