"""A call's tags are the scope's when its request started, wherever its stream is read."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

from capture_cases import chat
from fakeprovider import reply
from fakeprovider.clients import aclose_client, make_client

import llmledger
from llmledger.capture import instrument


def test_scoped_tags_are_recorded(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat.json"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        with llmledger.tags(feature="chat", tenant="acme"):
            chat(client, False)
            with llmledger.tags(user_id=42, api_key="sk-live-123"):
                chat(client, False)
        chat(client, False)
    assert [r.tags for r in ledger.rows()] == [
        {"feature": "chat", "tenant": "acme"},
        {"feature": "chat", "tenant": "acme", "user_id": "42", "api_key": "[redacted]"},
        {},
    ]


def test_stream_read_in_another_thread_keeps_the_tags_of_its_start(fake: Any, ledger: Any) -> None:
    fake.serve(reply("openai_chat_stream.sse"))
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        with llmledger.tags(feature="summary", tenant="acme"):
            stream = chat(client, True)
        # a fresh context: the reading thread has no tag scope of its own
        reader = threading.Thread(target=lambda: list(stream))
        with llmledger.tags(feature="other"):
            reader.start()
            reader.join()
    [row] = ledger.rows()
    assert row.tags == {"feature": "summary", "tenant": "acme"}
    assert row.tokens["output_tokens"] == 10


def test_stream_read_in_another_task_keeps_the_tags_of_its_start(fake: Any, ledger: Any) -> None:
    fake.serve(reply("anthropic_messages_stream.sse"))

    async def main() -> None:
        client = instrument(make_client("anthropic", fake.url, asynchronous=True), "anthropic")
        try:
            with llmledger.tags(job="nightly", tenant="globex"):
                stream = await client.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=100,
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                )

            async def drain() -> None:
                with llmledger.tags(job="drainer"):
                    async for _ in stream:
                        pass

            # run the consumer in an empty context, as a task spawned elsewhere would
            await asyncio.create_task(drain(), context=contextvars.Context())
        finally:
            await aclose_client(client)

    asyncio.run(main())
    [row] = ledger.rows()
    assert row.tags == {"job": "nightly", "tenant": "globex"}
    assert row.cost_pico == 547_000_000
