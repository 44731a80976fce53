"""A budget's unpriced policy through real SDK clients against the loopback provider:
``unpriced="block"`` refuses a request to a model no price covers before it leaves (the
server's hits say so), sync, async and streaming; "ignore", the default, lets it through."""

from __future__ import annotations

import asyncio
import pickle
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
COST = 336_900_000  # pico-USD of the fake provider's JSON reply (test_block_capture.py)
HOUSE = "acme-house-model"  # a model no catalog price covers


@pytest.fixture(autouse=True)
def clean():
    llmledger.shutdown()
    preflight.problems.clear()
    yield
    llmledger.shutdown()


def hits(fake: FakeProvider) -> int:
    return sum(r.path == "/v1/chat/completions" for r in fake.received)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_block_budget_refuses_a_model_no_price_covers(fake, tmp_path, stream) -> None:
    strict = llmledger.Budget("day", usd=1, per="tenant", action="block", unpriced="block")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[strict])
    fake.serve(reply("openai_chat_stream.sse" if stream else "openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    before = hits(fake)

    def chat(model: str) -> None:
        result = client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
        if stream:
            list(result)
        assert llmledger.flush() is True

    with client:
        with llmledger.tags(tenant="acme"):
            chat("gpt-4o-mini")
            with pytest.raises(llmledger.BudgetExceeded) as raised:
                chat(HOUSE)
            assert hits(fake) - before == 1  # the request to the house model never left
            chat("GPT-4o-Mini-2024-07-18")  # a name the catalog prices, spelled otherwise
        chat(HOUSE)  # no tenant: not in the budget's scope
    assert hits(fake) - before == 3
    error = raised.value
    assert type(error) is llmledger.BudgetExceeded
    spent = Decimal(8_850_000 if stream else COST).scaleb(-12)  # acme's first call
    assert (error.unpriced, error.scope, error.spent, error.limit) == (
        HOUSE,
        Scope({"tenant": "acme"}),
        spent,
        Decimal(1),
    )
    assert str(error) == (
        f"day budget of 1 USD for tenant=acme refuses model {HOUSE!r}, which no price covers "
        f"(unpriced='block'; spent {spent} USD)"
    )
    assert pickle.loads(pickle.dumps(error)).unpriced == HOUSE
    assert preflight.problems == {}


def test_ignore_the_default_lets_it_through_and_overrides_price_it(fake, tmp_path) -> None:
    budgets = [llmledger.Budget("day", usd=1, per="tenant", action="block")]
    assert budgets[0].unpriced == "ignore"
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=budgets)
    fake.serve(reply("openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    before = hits(fake)
    with client, llmledger.tags(tenant="acme"):
        client.chat.completions.create(model=HOUSE, messages=MESSAGES)
        # A price override covers the model: a strict budget lets it through.
        overrides = {"models": [{"provider": "openai", "model": HOUSE,
                                 "prices": {"input_mtok": "1", "output_mtok": "2"}}]}  # fmt: skip
        strict = llmledger.Budget("day", usd=1, per="tenant", action="block", unpriced="block")
        llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[strict],
                            price_overrides=overrides)  # fmt: skip
        client.chat.completions.create(model=HOUSE, messages=MESSAGES)
    assert hits(fake) - before == 2


def test_async_clients_are_refused_before_sending(fake, tmp_path) -> None:
    strict = llmledger.Budget("month", usd=1, action="block", unpriced="block")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[strict])
    fake.serve(reply("openai_chat.json"))
    before = hits(fake)

    async def run() -> llmledger.BudgetExceeded:
        client = llmledger.instrument(make_client("openai", fake.url, asynchronous=True),
                                      provider="openai")  # fmt: skip
        try:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            with pytest.raises(llmledger.BudgetExceeded) as raised:
                await client.chat.completions.create(model=HOUSE, messages=MESSAGES)
        finally:
            await aclose_client(client)
        return raised.value

    error = asyncio.run(run())
    assert (error.unpriced, error.scope) == (HOUSE, Scope())
    assert hits(fake) - before == 1


def test_the_anthropic_sdk_passes_the_refusal_on_unwrapped(fake, tmp_path) -> None:
    import anthropic

    strict = llmledger.Budget("day", usd=1, per="tenant", action="block", unpriced="block")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[strict])
    fake.serve(reply("anthropic_messages.json"))
    client = llmledger.instrument(make_client("anthropic", fake.url, max_retries=2))
    before = len(fake.received)
    with client, llmledger.tags(tenant="acme"), pytest.raises(llmledger.BudgetExceeded) as raised:
        client.messages.create(model="claude-house", max_tokens=100, messages=MESSAGES)
    assert len(fake.received) == before
    assert isinstance(raised.value, anthropic.AnthropicError)
    assert (raised.value.unpriced, raised.value.spent) == ("claude-house", Decimal(0))


def test_check_budget_refuses_the_model_it_is_given(tmp_path) -> None:
    strict = llmledger.Budget("day", usd=1, per="tenant", action="block", unpriced="block")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[strict])
    with pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.check_budget("openai", HOUSE, tenant="acme")
    assert raised.value.unpriced == HOUSE
    llmledger.check_budget("openai", "gpt-4o", tenant="acme")
    llmledger.check_budget(tenant="acme")  # no model named: nothing to judge it by


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unpriced": "count"}, "Budget.unpriced must be one of ('ignore', 'block'), got 'count'"),
        ({"unpriced": "block", "action": "notify"},
         "Budget: unpriced='block' refuses a request before it leaves, which only a 'block' "
         "budget does; this one is action='notify'"),
        ({"unpriced": "block", "action": "raise"}, "this one is action='raise'"),
    ],
)  # fmt: skip
def test_the_policy_is_checked_where_the_budget_is_built(kwargs: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=None) as raised:
        llmledger.Budget("day", usd=1, **kwargs)
    assert message in str(raised.value)
