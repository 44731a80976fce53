"""Streams: finished exactly once whether exhausted, closed early or broken midway; usage
estimated (never zero) when the stream carries none; the opt-in `include_usage`."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import httpx2
import openai
import pytest
from capture_cases import MESSAGES
from fakeprovider import reply
from fakeprovider.clients import make_client

from llmledger._core import count_tokens, estimate_request_tokens
from llmledger.capture import instrument

STREAMED_TEXT = "Hello there! How can I help you today?"


def chat_stream(client: Any, **kw: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, **kw)


def test_stream_without_usage_is_estimated_not_zero(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream_no_usage.sse"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        text = "".join(c.choices[0].delta.content or "" for c in chat_stream(client))
    assert text == STREAMED_TEXT
    [row] = ledger.rows()
    assert row.usage_source == "estimated"
    assert row.model == "gpt-4o-mini-2024-07-18"
    assert row.provider_response_id == "chatcmpl-C2fH1kQ7mN3pX9sLr2Tb8Wc4Zd6E"
    # o200k_base: Hello| there|!| How| can| I| help| you| today|?
    assert row.tokens["output_tokens"] == count_tokens(STREAMED_TEXT, "o200k_base") == 10
    body = fake.received[-1].body
    assert row.tokens["input_tokens"] == estimate_request_tokens("chat", body, "o200k_base")
    assert row.tokens["input_tokens"] > 0


def test_the_request_is_sent_as_the_app_wrote_it(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream_no_usage.sse"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        list(chat_stream(client))
    assert "stream_options" not in json.loads(fake.received[-1].body)


def test_stream_closed_early_is_recorded_once(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        stream = chat_stream(client)
        first = next(iter(stream))
        stream.close()
        del stream
        gc.collect()
    assert first.choices[0].delta.role == "assistant"
    [row] = ledger.rows()
    assert row.status == "ok"
    assert row.usage_source == "estimated"  # the usage chunk was never read
    assert row.tokens["input_tokens"] > 0


def test_anthropic_stream_closed_early_keeps_the_usage_seen(fake: Any, ledger: Any) -> None:
    fake.serve(reply("anthropic_messages_stream.sse"))
    with instrument(make_client("anthropic", fake.url), provider="anthropic") as client:
        stream = client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True
        )
        assert next(iter(stream)).type == "message_start"
        stream.close()
    [row] = ledger.rows()
    # message_start carries the input side and an initial output count
    assert row.tokens["input_tokens"] == 472
    assert row.tokens["output_tokens"] == 2
    assert row.usage_source == "stream_final"


def _broken_stream_error(client: Any) -> tuple[type[BaseException], type[BaseException]]:
    """The exception the app sees, and its cause."""
    with pytest.raises(openai.APIConnectionError) as caught:
        list(chat_stream(client))
    return type(caught.value), type(caught.value.__cause__)


def test_stream_broken_midway_raises_as_before_and_is_recorded_once(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream_no_usage.sse", break_after=3))
    with make_client("openai", fake.url) as plain:
        expected = _broken_stream_error(plain)
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        assert _broken_stream_error(client) == expected
    assert expected[1] is httpx2.RemoteProtocolError
    gc.collect()
    [row] = ledger.rows()
    assert row.status == "interrupted"
    assert row.usage_source == "estimated"
    # the three events before the break: role, "Hello", " there! How can"
    assert row.tokens["output_tokens"] == count_tokens("Hello there! How can", "o200k_base")


def _async_broken_stream_error(client: Any) -> tuple[type[BaseException], type[BaseException]]:
    """The exception an async Anthropic app sees when its stream breaks, and its cause."""

    async def consume() -> BaseException:
        try:
            stream = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass
        except Exception as error:  # the break, whichever type this SDK version gives it
            return error
        finally:
            await client.close()
        raise AssertionError("the broken stream ended without an error")

    error = asyncio.run(consume())
    return type(error), type(error.__cause__)


def test_async_stream_broken_midway_is_recorded_once(fake: Any, ledger: Any) -> None:
    # What the app sees is the SDK's own (anthropic < 2.17 lets httpx2's RemoteProtocolError
    # through, 2.17 wraps it in APIConnectionError): capture must not change it.
    fake.serve(reply("anthropic_messages_stream.sse", break_after=4))
    expected = _async_broken_stream_error(make_client("anthropic", fake.url, asynchronous=True))
    client = instrument(make_client("anthropic", fake.url, asynchronous=True), "anthropic")
    assert _async_broken_stream_error(client) == expected
    assert httpx2.RemoteProtocolError in expected
    [row] = ledger.rows()
    assert row.status == "interrupted"
    assert row.tokens["input_tokens"] == 472
    assert row.usage_source == "stream_final"


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_compressed_body_is_parsed_and_passed_through(
    encoding: str, fake: Any, ledger: Any
) -> None:
    # httpx2 asks for brotli when the brotli package is installed (it is, for the tests).
    fake.serve(reply("openai_chat.json", encoding=encoding))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        response = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert response.usage.prompt_tokens == 2006
    [row] = ledger.rows()
    assert row.tokens["cache_read_tokens"] == 1920
    assert row.usage_source == "response"


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_streamed_compressed_split_in_small_chunks(encoding: str, fake: Any, ledger: Any) -> None:
    fake.serve(reply("anthropic_messages_stream.sse", encoding=encoding, chunk_size=3))
    client = instrument(make_client("anthropic", fake.url), provider="anthropic")
    with (
        client,
        client.messages.stream(
            model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES
        ) as stream,
    ):
        assert stream.get_final_text() == "Hello! How can I help you today?"
    [row] = ledger.rows()
    assert (row.tokens["input_tokens"], row.tokens["output_tokens"]) == (472, 15)


def test_openai_error_type_unchanged_for_plain_client(fake: Any) -> None:
    """Sanity check of the fixture: the SDK's own exception for a 429."""
    fake.serve(reply("openai_error_429.json", status=429))
    with make_client("openai", fake.url) as plain, pytest.raises(openai.RateLimitError):
        list(chat_stream(plain))


def test_interrupted_stream_is_billed_for_what_was_seen(fake: Any, ledger: Any) -> None:
    fake.serve(reply("anthropic_messages_stream.sse", break_after=4))

    def consume(client: Any) -> type[BaseException]:
        with client, pytest.raises(Exception) as caught:
            list(client.messages.create(
                model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True
            ))  # fmt: skip
        return type(caught.value)

    expected = consume(make_client("anthropic", fake.url))
    assert consume(instrument(make_client("anthropic", fake.url), provider="anthropic")) == expected
    [row] = ledger.rows()
    assert row.status == "interrupted"
    # message_start: 472 input, 2 output so far. 472*1_000_000 + 2*5_000_000
    assert row.cost_pico == 482_000_000
