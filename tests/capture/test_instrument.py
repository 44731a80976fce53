"""instrument() wires one client instance, idempotently and reversibly; httpx_client() is the
explicit way; the provider comes from the host registry, else the client's type."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest
from capture_cases import MESSAGES, chat, generate, messages
from fakeprovider import reply
from fakeprovider.clients import make_client

import llmledger.capture as capture
from llmledger.capture import (
    TeeTransport,
    async_httpx_client,
    httpx_client,
    instrument,
    is_instrumented,
    register_host,
    uninstrument,
    unregister_host,
)


def test_instrument_returns_the_same_client_and_twice_is_a_no_op(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    client = make_client("openai", fake.url)
    original = client._client._transport
    assert instrument(client, provider="openai") is client
    wired = client._client._transport
    assert isinstance(wired, TeeTransport) and wired.inner is original
    assert instrument(client, provider="openai") is client
    assert client._client._transport is wired
    with client:
        chat(client, False)
    assert len(ledger.rows()) == 1


def test_uninstrument_restores_the_transport(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    client = make_client("openai", fake.url)
    original = client._client._transport
    instrument(client, provider="openai")
    assert is_instrumented(client)
    assert uninstrument(client) is client
    assert client._client._transport is original
    assert not is_instrumented(client)
    with client:
        chat(client, False)
    assert ledger.rows() == []


def test_other_instances_are_untouched(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    with (
        instrument(make_client("openai", fake.url), "openai"),
        make_client("openai", fake.url) as other,
    ):
        chat(other, False)
    assert ledger.rows() == []


def test_google_client_sync_and_async_share_the_wiring(fake: Any, ledger: Any) -> None:
    fake.serve(reply("gemini_generate.json"))
    client = instrument(make_client("google", fake.url), provider="google")
    api = client._api_client

    async def calls() -> None:
        await generate(client.aio, False)
        await generate(client.aio, False)  # this event loop's inner client, reused
        uninstrument(client)  # also unwires the inner clients already made
        await generate(client.aio, False)
        await client.aio.aclose()

    generate(client, False)
    asyncio.run(calls())
    generate(client, False)
    client.close()
    assert len(ledger.rows()) == 3
    assert "_inner_client_cls" not in vars(api._async_httpx_client)
    assert api._http_options.httpx_async_client is None  # aiohttp back, where installed
    assert not isinstance(api._httpx_client._transport, TeeTransport)


def test_explicit_httpx_client(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    http = httpx_client(provider="openai", timeout=5.0)
    assert http.timeout == httpx2.Timeout(5.0)
    with openai.OpenAI(api_key="sk-test", base_url=fake.url + "/v1", http_client=http) as client:
        chat(client, False)
    [row] = ledger.rows()
    assert (row.provider, row.cost_pico) == ("openai", 336_900_000)


def test_explicit_async_httpx_client(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream.sse"))

    async def main() -> None:
        http = async_httpx_client(provider="openai")
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.url + "/v1", http_client=http)
        async with client:
            async for _ in await chat(client, True):
                pass

    asyncio.run(main())
    [row] = ledger.rows()
    assert (row.usage_source, row.cost_pico) == ("stream_final", 8_850_000)


def test_provider_comes_from_the_host_registry(fake: Any, ledger: Any) -> None:
    """An OpenAI client on a registered OpenAI-compatible host records that host's provider;
    on an unknown host, the client's own provider."""
    fake.serve(reply("openai_chat.json"))
    host = fake.url.removeprefix("http://")
    register_host(host, "deepseek")
    try:
        with instrument(make_client("openai", fake.url)) as client:
            chat(client, False)
    finally:
        unregister_host(host)
    with instrument(make_client("openai", fake.url)) as client:
        chat(client, False)
    assert [r.provider for r in ledger.rows()] == ["deepseek", "openai"]


def test_unsupported_client_is_refused_at_setup() -> None:
    with pytest.raises(TypeError, match="httpx_client"):
        instrument(object())


def test_public_names() -> None:
    assert set(capture.__all__) >= {"instrument", "uninstrument", "httpx_client", "register_host"}


def test_configure_registers_gateways_in_any_dialect(fake: Any, ledger: Any) -> None:
    """A gateway speaking Anthropic's format under its own name: recorded as that provider,
    and unpriced (NULL, never zero) since the catalog has no price for it."""
    fake.serve(reply("anthropic_messages.json"))
    host = fake.url.removeprefix("http://")
    capture.configure(hosts={host: ("acme-gateway", "anthropic")})
    try:
        with instrument(make_client("anthropic", fake.url)) as client:
            messages(client, False)
    finally:
        unregister_host(host)
    [row] = ledger.rows()
    assert (row.provider, row.model, row.cost_pico) == (
        "acme-gateway",
        "claude-haiku-4-5-20251001",
        None,
    )
    assert row.tokens["cache_write_1h_tokens"] == 2000


def test_explicit_httpx_clients_for_google_genai(fake: Any, ledger: Any) -> None:
    from google import genai
    from google.genai import types

    fake.serve(reply("gemini_generate.json"))
    sync_http, async_http = httpx_client(provider="google"), async_httpx_client(provider="google")
    options = types.HttpOptions(
        base_url=fake.url, httpx_client=sync_http, httpx_async_client=async_http
    )
    client = genai.Client(api_key="test", http_options=options)

    async def call() -> None:
        await generate(client.aio, False)
        await async_http.aclose()  # the app's own clients: google-genai leaves them open

    with sync_http:
        generate(client, False)
    asyncio.run(call())
    assert [r.cost_pico for r in ledger.rows()] == [715_000_000, 715_000_000]


def test_azure_openai_deployment_paths(fake: Any, ledger: Any) -> None:
    """AzureOpenAI names the deployment in the path; the response names the model."""
    fake.serve(reply("openai_chat.json"))
    client = openai.AzureOpenAI(
        api_key="test", azure_endpoint=fake.url, api_version="2024-10-21", max_retries=0
    )
    with instrument(client, provider="azure") as client:
        client.chat.completions.create(model="prod-4o-mini", messages=MESSAGES)
    assert fake.received[-1].path.startswith("/openai/deployments/prod-4o-mini/chat/completions")
    [row] = ledger.rows()
    assert (row.provider, row.model) == ("azure", "gpt-4o-mini-2024-07-18")
    assert row.tokens["cache_read_tokens"] == 1920
