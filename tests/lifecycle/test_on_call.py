"""The call hook: `configure(on_call=fn)` sees every recorded call once, priced, on the writer's
thread; what it raises is contained, logged once per type and counted."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from fakeprovider import reply
from fakeprovider.clients import aclose_client, make_client

import llmledger
from llmledger.capture import instrument, sink
from llmledger.record import hooks
from llmledger.store.schema import BUCKETS

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


class Seen:
    """A hook that keeps each call and the thread it was called on."""

    def __init__(self) -> None:
        self.calls: list[llmledger.Call] = []
        self.threads: set[str] = set()

    def __call__(self, call: llmledger.Call) -> None:
        self.calls.append(call)
        self.threads.add(threading.current_thread().name)


def tokens(call: llmledger.Call) -> dict[str, int]:
    return {b: n for b, n in call.usage.items() if n}


def test_track_hands_the_same_call_on_the_writer_thread(ledger_url: str) -> None:
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen)
    with llmledger.tags(tenant="acme"):
        call = llmledger.track(
            "anthropic", "claude-opus-4-1-20250805", input_tokens=472, cache_read_tokens=2048,
            cache_write_1h_tokens=1024, output_tokens=187, tags={"feature": "agent"},
        )  # fmt: skip
    assert llmledger.flush()
    assert seen.calls == [call] and seen.calls[0] is call
    assert seen.threads == {"llmledger-writer"}
    # 472 * 15 + 2048 * 1.50 + 1024 * 30 (1 h cache write) + 187 * 75 USD per million tokens
    assert call.cost_pico == 54_897_000_000
    assert call.cost == Decimal("0.054897")
    assert dict(call.tags) == {"tenant": "acme", "feature": "agent"}
    assert (call.usage_source, call.status) == ("manual", "ok")
    assert llmledger.calls()["event_id"].to_list() == [call.event_id]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_captured_calls_reach_the_hook_once_each(stream: bool, fake: Any, ledger_url: str) -> None:
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen)
    fake.serve(reply("openai_chat_stream.sse" if stream else "openai_chat.json"))
    client = instrument(make_client("openai", fake.url), provider="openai")
    with client, llmledger.tags(feature="chat"):
        for _ in range(3):
            result = client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=stream
            )
            if stream:
                list(result)
    rows = llmledger.calls()
    assert len(seen.calls) == 3 and seen.threads == {"llmledger-writer"}
    assert [c.event_id for c in seen.calls] == rows["event_id"].to_list()
    call = seen.calls[0]
    assert call.provider == "openai" and call.model == "gpt-4o-mini-2024-07-18"
    assert dict(call.tags) == {"feature": "chat"}
    assert (call.status, call.http_status, call.pricing_mode) == ("ok", 200, "standard")
    assert call.latency_ms > 0
    if stream:
        # 19 * 0.15 + 10 * 0.60 USD per million tokens
        assert tokens(call) == {"input_tokens": 19, "output_tokens": 10}
        assert call.cost_pico == 8_850_000
        assert call.usage_source == "stream_final"
        assert call.provider_response_id == "chatcmpl-C2fGZ8u4Vq0rj3wTnKx1d9Yb7Hs5A"
    else:
        # 86 * 0.15 + 1920 * 0.075 (cached) + 300 * 0.60 USD per million tokens
        assert tokens(call) == {"input_tokens": 86, "cache_read_tokens": 1920, "output_tokens": 300}
        assert call.cost_pico == 336_900_000
        assert call.usage_source == "response"
        assert call.provider_response_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert [int(c * 10**12) for c in rows["cost"]] == [call.cost_pico] * 3
    assert dict(zip(BUCKETS, rows.row(0)[3:11], strict=True)) == dict(call.usage)


def test_async_streams_reach_the_hook_on_the_writer_thread(fake: Any, ledger_url: str) -> None:
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen)
    fake.serve(reply("anthropic_messages_stream.sse"))

    async def call() -> None:
        client = instrument(make_client("anthropic", fake.url, asynchronous=True), "anthropic")
        try:
            stream = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=1024, messages=MESSAGES, stream=True
            )
            [event async for event in stream]
        finally:
            await aclose_client(client)

    with llmledger.tags(feature="async"):
        asyncio.run(call())
    assert llmledger.flush()
    [call_] = seen.calls
    assert seen.threads == {"llmledger-writer"}
    assert call_.model == "claude-haiku-4-5-20251001"
    # 472 * 1.00 + 15 * 5.00 USD per million tokens
    assert tokens(call_) == {"input_tokens": 472, "output_tokens": 15}
    assert (call_.cost_pico, call_.usage_source) == (547_000_000, "stream_final")
    assert dict(call_.tags) == {"feature": "async"}


def test_a_failed_call_reaches_the_hook_at_zero_cost(fake: Any, ledger_url: str) -> None:
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen)
    fake.serve(reply("openai_error_429.json", status=429))
    client = instrument(make_client("openai", fake.url), provider="openai")
    with client, pytest.raises(Exception, match="429"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert llmledger.flush()
    [call] = seen.calls
    assert (call.status, call.http_status, call.cost_pico) == ("error", 429, 0)
    assert call.price_rule is None
    assert call.model == "gpt-4o-mini"


def test_the_hook_runs_on_the_writer_thread_when_the_writer_is_behind(
    fake: Any, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past EAGER_AFTER queued items capture builds the row on the app's thread; the hook
    # still waits for the writer's.
    monkeypatch.setattr(sink, "EAGER_AFTER", 0)
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen)
    fake.serve(reply("openai_chat.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert llmledger.flush()
    assert [c.cost_pico for c in seen.calls] == [336_900_000] * 2
    assert seen.threads == {"llmledger-writer"}


def test_what_the_hook_raises_is_contained_said_once_per_type_and_counted(
    ledger_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(call: llmledger.Call) -> None:
        raise (KeyError if call.usage["input_tokens"] % 2 else ValueError)("metrics down")

    llmledger.configure(ledger_url, on_call=hook)
    with caplog.at_level(logging.ERROR, "llmledger"):
        for n in range(6):
            llmledger.track("openai", "gpt-4o", input_tokens=n)
        assert llmledger.flush()
    assert llmledger.calls()["input_tokens"].to_list() == list(range(6))
    assert hooks.problems == {"raised": 6}
    said = sorted(r.getMessage() for r in caplog.records)
    assert len(said) == 2
    assert "on_call hook raised builtins.KeyError" in said[0]
    assert "on_call hook raised builtins.ValueError" in said[1]
    assert all(r.exc_info is not None for r in caplog.records)


def test_a_hook_that_exits_neither_stops_the_writer_nor_loses_the_call(ledger_url: str) -> None:
    def hook(call: llmledger.Call) -> None:
        raise SystemExit(1)

    llmledger.configure(ledger_url, on_call=hook)
    writer = llmledger.config.state().writer
    thread = writer._thread
    llmledger.track("openai", "gpt-4o", input_tokens=1)
    llmledger.track("openai", "gpt-4o", input_tokens=2)
    assert llmledger.calls()["input_tokens"].to_list() == [1, 2]
    assert writer._thread is thread and thread.is_alive()
    assert hooks.problems == {"raised": 2}


def test_a_slow_hook_does_not_hold_up_the_app(fake: Any, ledger_url: str) -> None:
    def slow(call: llmledger.Call) -> None:
        time.sleep(0.2)

    llmledger.configure(ledger_url, on_call=slow)
    fake.serve(reply("openai_chat.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        start = time.perf_counter()
        for _ in range(3):
            llmledger.track("openai", "gpt-4o", input_tokens=1)
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        took = time.perf_counter() - start
    assert took < 0.4  # the hooks alone take 1.2 s
    assert llmledger.flush() and len(llmledger.calls()) == 6


def test_a_call_the_writer_cannot_queue_skips_the_hook(ledger_url: str) -> None:
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen)
    llmledger.config.state().writer.close()  # as at exit: later rows go to the spool at once
    llmledger.track("openai", "gpt-4o", input_tokens=1)
    assert seen.calls == []
    assert hooks.problems == {"skipped": 1}


def test_no_hook_while_switched_off(ledger_url: str) -> None:
    seen = Seen()
    llmledger.configure(ledger_url, on_call=seen, enabled=False)
    llmledger.track("openai", "gpt-4o", input_tokens=1)
    assert llmledger.flush() and seen.calls == []


def test_on_call_must_be_callable() -> None:
    with pytest.raises(TypeError, match="on_call must be a callable"):
        llmledger.configure(on_call="print")  # type: ignore[arg-type]
