"""Claude on Amazon Bedrock through the anthropic SDK's `AnthropicBedrock` and
`AsyncAnthropicBedrock`, against the fake provider's Bedrock routes: "/invoke" answers
Anthropic's Messages JSON, "/invoke-with-response-stream" AWS event-stream messages.

Prices (catalog in force in 2026, USD per million tokens), for Claude Haiku 4.5 through the
global cross-region inference profile "global.anthropic.claude-haiku-4-5-20251001-v1:0":
1.00 in, 0.10 cache read, 1.25 cache write (5 min), 2.00 cache write (1 h), 5.00 out; through
the US profile "us.anthropic.claude-haiku-4-5-20251001-v1:0", 10% more: 1.10, 0.11, 1.375,
2.20, 5.50. $X per million tokens is X * 1e6 pico-USD per token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import pytest
from capture_cases import MESSAGES
from fakeprovider import Reply
from fakeprovider.eventstream import CONTENT_TYPE

import llmledger
from llmledger.capture import instrument, problems
from llmledger.store.schema import BUCKETS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STREAM = (FIXTURES / "bedrock_messages_stream.eventstream").read_bytes()
THROTTLED = (FIXTURES / "bedrock_messages_stream_throttled.eventstream").read_bytes()
INVOKE = (FIXTURES / "bedrock_messages.json").read_bytes()

GLOBAL = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
US = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
# Both fixtures: 25 input, 10000 cache reads, 1000 five-minute and 2000 one-hour cache
# writes, 120 output.
TOKENS = {"input_tokens": 25, "cache_read_tokens": 10000, "cache_write_tokens": 1000,
          "cache_write_1h_tokens": 2000, "output_tokens": 120}  # fmt: skip
# 25*1_000_000 + 10000*100_000 + 1000*1_250_000 + 2000*2_000_000 + 120*5_000_000
GLOBAL_COST = 6_875_000_000
# 25*1_100_000 + 10000*110_000 + 1000*1_375_000 + 2000*2_200_000 + 120*5_500_000
US_COST = 7_562_500_000


def bedrock(url: str, *, asynchronous: bool = False) -> Any:
    cls = anthropic.AsyncAnthropicBedrock if asynchronous else anthropic.AnthropicBedrock
    return cls(
        aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-east-1",
        base_url=url, max_retries=0,
    )  # fmt: skip


def serve(fake: Any, stream: bytes = STREAM, **stream_options: Any) -> None:
    fake.serve_routes({
        "/invoke-with-response-stream": Reply(stream, content_type=CONTENT_TYPE, **stream_options),
        "/invoke": Reply(INVOKE),
    })  # fmt: skip


def create(client: Any, model: str, stream: bool) -> Any:
    return client.messages.create(model=model, max_tokens=256, messages=MESSAGES, stream=stream)


def dump(obj: Any) -> Any:
    return obj.model_dump(mode="json")


def run(client: Any, how: str, model: str = GLOBAL) -> Any:
    """One call as the app makes it, and what the app gets from it."""
    if how == "create":
        return dump(create(client, model, False))
    if how == "create-stream":
        return [dump(e) for e in create(client, model, True)]
    with client.messages.stream(model=model, max_tokens=256, messages=MESSAGES) as stream:
        return [dump(e) for e in stream] + [dump(stream.get_final_message())]


def assert_row(row: Any, how: str, model: str = GLOBAL, cost: int = GLOBAL_COST) -> None:
    assert (row.provider, row.model) == ("aws", model)
    assert row.tokens == dict.fromkeys(BUCKETS, 0) | TOKENS
    assert row.cost_pico == cost
    assert row.usage_source == ("response" if how == "create" else "stream_final")
    assert (row.status, row.http_status) == ("ok", 200)
    assert row.provider_response_id == (
        "msg_bdrk_01Kq9xY3vW7nT2mR5sP8uL4d"
        if how == "create"
        else "msg_bdrk_01XFDUDYJgAACzvnptvVoYEL"
    )
    assert row.tags == {"feature": how, "tenant": "acme"}


HOW = ["create", "create-stream", "messages-stream"]


@pytest.mark.parametrize("how", HOW)
def test_sync_calls_are_unchanged_and_recorded_as_aws(how: str, fake: Any, ledger: Any) -> None:
    serve(fake)
    with bedrock(fake.url) as plain:
        expected = run(plain, how)
    assert ledger.rows() == []
    # No provider given: the host is not in the registry, so the client's type names it.
    with instrument(bedrock(fake.url)) as client, llmledger.tags(feature=how, tenant="acme"):
        assert run(client, how) == expected
    verb = "invoke" if how == "create" else "invoke-with-response-stream"
    assert fake.received[-1].path == f"/model/{GLOBAL}/{verb}"
    [row] = ledger.rows()
    assert_row(row, how)


@pytest.mark.parametrize("how", HOW)
def test_async_calls_are_unchanged_and_recorded(how: str, fake: Any, ledger: Any) -> None:
    serve(fake)

    async def call(client: Any) -> Any:
        async with client:
            if how == "create":
                return dump(await create(client, GLOBAL, False))
            if how == "create-stream":
                return [dump(e) async for e in await create(client, GLOBAL, True)]
            async with client.messages.stream(
                model=GLOBAL, max_tokens=256, messages=MESSAGES
            ) as stream:
                return [dump(e) async for e in stream] + [dump(await stream.get_final_message())]

    expected = asyncio.run(call(bedrock(fake.url, asynchronous=True)))
    with llmledger.tags(feature=how, tenant="acme"):
        got = asyncio.run(call(instrument(bedrock(fake.url, asynchronous=True))))
    assert got == expected
    [row] = ledger.rows()
    assert_row(row, how)


def test_the_inference_profile_in_the_url_sets_the_price(fake: Any, ledger: Any) -> None:
    # The response names "claude-haiku-4-5-20251001" either way; AWS bills the profile.
    serve(fake)
    with instrument(bedrock(fake.url)) as client, llmledger.tags(tenant="acme"):
        run(client, "create-stream", US)
        run(client, "create", US)
    rows = ledger.rows()
    assert [(r.model, r.cost_pico) for r in rows] == [(US, US_COST), (US, US_COST)]


def test_a_stream_broken_midway_is_recorded_with_the_usage_seen(fake: Any, ledger: Any) -> None:
    serve(fake, break_after=3)

    def outcome(client: Any) -> type[BaseException]:
        with client, pytest.raises(Exception) as caught:
            run(client, "create-stream")
        return type(caught.value)

    expected = outcome(bedrock(fake.url))
    with llmledger.tags(feature="create-stream", tenant="acme"):
        assert outcome(instrument(bedrock(fake.url))) == expected
    [row] = ledger.rows()
    assert row.status == "interrupted"
    assert row.usage_source == "stream_final"
    # message_start's usage: the input side, and 1 output token so far.
    assert row.tokens == dict.fromkeys(BUCKETS, 0) | TOKENS | {"output_tokens": 1}
    assert row.cost_pico == GLOBAL_COST - 119 * 5_000_000
    assert row.tags == {"feature": "create-stream", "tenant": "acme"}


def _failure(client: Any, how: str) -> tuple[type[BaseException], str]:
    with client, pytest.raises(Exception) as caught:
        run(client, how)
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize("how", ["create-stream", "messages-stream"])
def test_an_exception_frame_records_the_call_as_errored(how: str, fake: Any, ledger: Any) -> None:
    serve(fake, THROTTLED)
    expected = _failure(bedrock(fake.url), how)
    assert "Too many requests" in expected[1]
    before = problems["parse"]
    with llmledger.tags(feature=how, tenant="acme"):
        assert _failure(instrument(bedrock(fake.url)), how) == expected
    [row] = ledger.rows()
    assert (row.status, row.http_status, row.usage_source) == ("error", 200, "stream_final")
    assert row.tokens == dict.fromkeys(BUCKETS, 0) | TOKENS | {"output_tokens": 1}
    # Unbilled, as a 4xx/5xx answer is; the tokens show what was streamed before the error.
    assert row.cost_pico == 0
    assert row.tags == {"feature": how, "tenant": "acme"}
    assert problems["parse"] == before + 1  # logged with the exception type and message


def test_a_corrupt_frame_does_not_break_the_app_and_keeps_the_usage_seen(
    fake: Any, ledger: Any
) -> None:
    # A flipped byte in the last message (message_stop): the SDK's decoder (botocore) raises
    # its own error; recording raises nothing into the app, and keeps what came before.
    body = bytearray(STREAM)
    body[-20] ^= 0x01
    serve(fake, bytes(body))
    expected = _failure(bedrock(fake.url), "create-stream")
    before = problems["parse"]
    with llmledger.tags(feature="create-stream", tenant="acme"):
        assert _failure(instrument(bedrock(fake.url)), "create-stream") == expected
    [row] = ledger.rows()
    assert row.tokens == dict.fromkeys(BUCKETS, 0) | TOKENS
    assert row.cost_pico == GLOBAL_COST
    assert row.tags == {"feature": "create-stream", "tenant": "acme"}
    assert problems["parse"] == before + 1


def test_bytes_split_anywhere_give_the_same_row(fake: Any, ledger: Any) -> None:
    serve(fake, chunk_size=7)  # HTTP chunks that cut messages, preludes and CRCs
    with instrument(bedrock(fake.url)) as client, llmledger.tags(feature="create-stream",
                                                                  tenant="acme"):  # fmt: skip
        run(client, "create-stream")
    [row] = ledger.rows()
    assert_row(row, "create-stream")
