"""A "block" budget stops an instrumented client's request before it leaves: the real OpenAI
SDK (sync, async, streaming) against the loopback provider, counting what the server got."""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

from fakeprovider import FakeProvider, reply
from fakeprovider.clients import aclose_client, make_client

import llmledger
from llmledger.budgets import preflight
from llmledger.store import Scope

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
# What the fake provider's replies cost (tests/lifecycle/test_on_call.py derives them).
COST = {False: 336_900_000, True: 8_850_000}  # pico-USD: JSON reply, streamed reply


@pytest.fixture(autouse=True)
def clean():
    llmledger.shutdown()
    preflight.problems.clear()
    yield
    llmledger.shutdown()


def budget_of(calls: int, stream: bool) -> llmledger.Budget:
    """A per-tenant daily block budget that `calls` calls reach exactly."""
    return llmledger.Budget("day", usd=Decimal(calls * COST[stream]).scaleb(-12),
                            per="tenant", action="block")  # fmt: skip


def hits(fake: FakeProvider) -> int:
    return sum(r.path == "/v1/chat/completions" for r in fake.received)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_over_budget_tenants_request_never_reaches_the_server(fake, tmp_path, stream) -> None:
    budget = budget_of(2, stream)
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[budget])
    fake.serve(reply("openai_chat_stream.sse" if stream else "openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    before = hits(fake)

    def chat() -> None:
        result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                stream=stream)  # fmt: skip
        if stream:
            list(result)
        assert llmledger.flush() is True  # its cost is known once the writer priced it

    with client:
        with llmledger.tags(tenant="acme"):
            chat()
            chat()
            with pytest.raises(llmledger.BudgetExceeded) as raised:
                chat()
        assert hits(fake) - before == 2  # the third request never left
        error = raised.value
        assert type(error) is llmledger.BudgetExceeded  # not wrapped by the SDK
        assert (error.scope, error.spent, error.limit) == (
            Scope({"tenant": "acme"}),
            Decimal(2 * COST[stream]).scaleb(-12),
            budget.usd,
        )
        with llmledger.tags(tenant="globex"):
            chat()
        assert hits(fake) - before == 3
        llmledger.check_budget()  # no tenant: not in the per-tenant budget
    assert llmledger.calls(tenant="acme")["cost"].to_list() == [error.spent / 2] * 2
    assert preflight.problems == {}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_async_clients_are_blocked_before_sending(fake, tmp_path, stream) -> None:
    budget = budget_of(1, stream)
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[budget])
    fake.serve(reply("openai_chat_stream.sse" if stream else "openai_chat.json"))
    before = hits(fake)

    async def chat(client: Any) -> None:
        result = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                      stream=stream)  # fmt: skip
        if stream:
            async for _ in result:
                pass
        assert llmledger.flush() is True

    async def run() -> llmledger.BudgetExceeded:
        client = llmledger.instrument(make_client("openai", fake.url, asynchronous=True),
                                      provider="openai")  # fmt: skip
        try:
            with llmledger.tags(tenant="acme"):
                await chat(client)
                with pytest.raises(llmledger.BudgetExceeded) as raised:
                    await chat(client)
            with llmledger.tags(tenant="globex"):
                await chat(client)
        finally:
            await aclose_client(client)
        return raised.value

    error = asyncio.run(run())
    assert type(error) is llmledger.BudgetExceeded
    assert error.spent == Decimal(COST[stream]).scaleb(-12)
    assert hits(fake) - before == 2  # acme once, globex once


def test_no_preflight_while_recording_is_off(fake, tmp_path) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", enabled=False,
                        budgets=[budget_of(1, False)])  # fmt: skip
    fake.serve(reply("openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    before = hits(fake)
    with client, llmledger.tags(tenant="acme"):
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert hits(fake) - before == 3


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_anthropic_sdk_passes_the_error_on_unwrapped_and_unretried(fake, tmp_path, stream):
    import anthropic

    # One call reaches it; the client would retry a connection error twice.
    budget = llmledger.Budget("day", usd="0.000000000001", per="tenant", action="block")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[budget])
    fake.serve(reply("anthropic_messages_stream.sse" if stream else "anthropic_messages.json"))
    client = llmledger.instrument(make_client("anthropic", fake.url, max_retries=2))
    before = len(fake.received)

    def chat() -> None:
        kwargs = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": MESSAGES}
        if stream:
            with client.messages.stream(**kwargs) as events:
                list(events)
        else:
            client.messages.create(**kwargs)
        assert llmledger.flush() is True

    with client, llmledger.tags(tenant="acme"):
        chat()
        with pytest.raises(llmledger.BudgetExceeded) as raised:
            chat()
    assert len(fake.received) - before == 1
    error = raised.value
    assert isinstance(error, anthropic.AnthropicError)
    assert not isinstance(error, anthropic.APIConnectionError)
    (cost,) = llmledger.calls(tenant="acme")["cost"].to_list()
    assert cost > 0 and (error.spent, error.limit) == (cost, budget.usd)
