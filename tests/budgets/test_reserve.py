"""`Budget(reserve=True)` through the real OpenAI SDK (sync, async, streaming) against the
loopback provider: a request reserves its worst case before it leaves, a call in flight holds
it, the writer settles it with the real cost, a failed request gives it back, and a request
without an output cap is refused. Exact to the pico-USD, counting the server's hits."""

from __future__ import annotations

import asyncio
import socket
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

from fakeprovider import FakeProvider, reply
from fakeprovider.clients import aclose_client, make_client

import llmledger
from llmledger import config
from llmledger.budgets import preflight
from llmledger.store import Scope
from llmledger.store.reservations import budget_reservations

MESSAGES = [{"role": "user", "content": "budget " * 2100}]
# 2,108 prompt tokens at gpt-4o-mini's $0.15/M, 300 output tokens at $0.60/M, in pico-USD.
WORST_CASE = 2108 * 150_000 + 300 * 600_000
COST = {False: 336_900_000, True: 8_850_000}  # what the replies cost: JSON, streamed
ACME = Scope({"tenant": "acme"})


def usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)


@pytest.fixture(autouse=True)
def clean():
    llmledger.shutdown()
    preflight.problems.clear()
    yield
    llmledger.shutdown()


def configure(tmp_path, limit: int, **budget) -> llmledger.Budget:
    b = llmledger.Budget("day", usd=usd(limit), per="tenant", action="block", reserve=True,
                         **budget)  # fmt: skip
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[b])
    return b


def hits(fake: FakeProvider) -> int:
    return sum(r.path == "/v1/chat/completions" for r in fake.received)


def held() -> int:
    with config.state().engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(budget_reservations)).scalar()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_call_reserves_its_worst_case_and_the_writer_settles_it(fake, tmp_path, stream):
    cost = COST[stream]
    budget = configure(tmp_path, 2 * cost + WORST_CASE)  # two calls, and room for a third's?
    fake.serve(reply("openai_chat_stream.sse" if stream else "openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    before = hits(fake)

    def chat() -> None:
        result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                max_tokens=300, stream=stream)  # fmt: skip
        if stream:
            list(result)
        assert llmledger.flush() is True  # written: its reservation released
        assert held() == 0

    with client, llmledger.tags(tenant="acme"):
        chat()
        chat()
        chat()  # 2 * cost + WORST_CASE: the limit exactly
        with pytest.raises(llmledger.BudgetExceeded) as raised:
            chat()
    assert hits(fake) - before == 3
    error = raised.value
    assert type(error) is llmledger.BudgetExceeded
    assert (error.budget, error.scope, error.spent, error.limit, error.worst_case) == (
        budget,
        ACME,
        usd(3 * cost),
        budget.usd,
        usd(WORST_CASE),
    )
    assert llmledger.calls(tenant="acme")["cost"].to_list() == [usd(cost)] * 3
    assert preflight.problems == {}


def test_a_stream_in_flight_holds_its_worst_case_until_written(fake, tmp_path):
    configure(tmp_path, 2 * WORST_CASE - 1)  # one worst case fits, two do not
    fake.serve(reply("openai_chat_stream.sse"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 300, "stream": True}
    with client, llmledger.tags(tenant="acme"):
        stream = client.chat.completions.create(**kwargs)
        next(iter(stream))  # the response has begun; the call is in flight
        assert held() == 1
        with pytest.raises(llmledger.BudgetExceeded) as raised:
            client.chat.completions.create(**kwargs)
        assert (raised.value.spent, raised.value.worst_case) == (usd(WORST_CASE),) * 2
        list(stream)
        assert llmledger.flush() is True
        assert held() == 0
        list(client.chat.completions.create(**kwargs))  # its real cost leaves room
    assert llmledger.flush() is True
    assert llmledger.calls(tenant="acme")["cost"].to_list() == [usd(COST[True])] * 2


def test_async_clients_reserve_off_the_event_loop(fake, tmp_path):
    configure(tmp_path, COST[False] + WORST_CASE - 1)  # the second call's worst case won't fit
    fake.serve(reply("openai_chat.json"))
    before = hits(fake)

    async def run() -> llmledger.BudgetExceeded:
        client = llmledger.instrument(make_client("openai", fake.url, asynchronous=True),
                                      provider="openai")  # fmt: skip
        kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 300}
        try:
            with llmledger.tags(tenant="acme"):
                await client.chat.completions.create(**kwargs)
                assert llmledger.flush() is True
                with pytest.raises(llmledger.BudgetExceeded) as raised:
                    await client.chat.completions.create(**kwargs)
            with llmledger.tags(tenant="globex"):
                await client.chat.completions.create(**kwargs)
        finally:
            await aclose_client(client)
        return raised.value

    error = asyncio.run(run())
    assert (error.spent, error.worst_case) == (usd(COST[False]), usd(WORST_CASE))
    assert hits(fake) - before == 2
    assert llmledger.flush() is True
    assert held() == 0


def test_a_request_without_an_output_cap_is_refused_unless_the_budget_names_one(fake, tmp_path):
    budget = configure(tmp_path, 10**12)
    fake.serve(reply("openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    before = hits(fake)
    with client, llmledger.tags(tenant="acme"):
        with pytest.raises(llmledger.UnboundedRequest, match="names no output cap") as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert isinstance(raised.value, llmledger.BudgetExceeded)
        assert (raised.value.budget, raised.value.scope) == (budget, ACME)
        assert hits(fake) == before
    for cap, fits in ((301, False), (300, True)):  # the output tokens reserved without a cap
        llmledger.shutdown()
        configure(tmp_path, WORST_CASE, reserve_max_tokens=cap)
        client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
        with client, llmledger.tags(tenant="acme"):
            if fits:
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            else:
                with pytest.raises(llmledger.BudgetExceeded) as raised:
                    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
                assert raised.value.worst_case == usd(WORST_CASE + 600_000)  # one token more
    assert hits(fake) == before + 1


def test_a_request_that_fails_gives_its_reservation_back(tmp_path):
    configure(tmp_path, WORST_CASE)  # one worst case at a time
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    client = llmledger.instrument(make_client("openai", url), provider="openai")
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 300}
    with client, llmledger.tags(tenant="acme"):
        for _ in range(2):  # the second would be refused if the first still held its own
            with pytest.raises(Exception) as raised:
                client.chat.completions.create(**kwargs)
            assert type(raised.value).__name__ == "APIConnectionError"
            assert held() == 0
    assert preflight.problems == {}


def test_calls_outside_the_budgets_scope_reserve_nothing(fake, tmp_path):
    configure(tmp_path, 1)
    fake.serve(reply("openai_chat.json"))
    client = llmledger.instrument(make_client("openai", fake.url), provider="openai")
    with client:  # no tenant tag: not in the per-tenant budget
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert held() == 0
