"""What `Budget(reserve=True)` adds to an instrumented call: the same call, on the same
instrumented client and in-memory transport, under the same whole-app daily block budget,
reserving its worst case (a database round trip, then the writer's release) and with the
cached block check only (the same budget without `reserve`, its guard swapped in for that
call only), interleaved so both see the same load. On SQLite and on PostgreSQL (when
LLMLEDGER_TEST_POSTGRES_URL is set). Run: `pytest benches/bench_budget_reserve.py
--benchmark-only`; `extra_info` holds the cached call's median and the added microseconds.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from bench_capture_latency import JSON, MESSAGES, Replay
from sqlalchemy import create_engine, func, make_url, select, text

import llmledger
from llmledger import config
from llmledger.budgets import preflight
from llmledger.budgets.check import Guard
from llmledger.capture import httpx_client
from llmledger.store import make_engine, upgrade
from llmledger.store.reservations import budget_reservations

ROUNDS = 300
BUDGET = {"period": "day", "usd": 500, "action": "block"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bench.db'}"
        return
    server = os.environ.get("LLMLEDGER_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("LLMLEDGER_TEST_POSTGRES_URL is not set")
    name = f"llmledger_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        llmledger.shutdown()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _call(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=300)


def test_reserve_added(benchmark: Any, database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    llmledger.configure(database_url, budgets=[llmledger.Budget(**BUDGET, reserve=True)])
    st = config.state()
    reserving = st.guard
    cached = Guard([llmledger.Budget(**BUDGET)], st.engine, reserving.spec)
    client = openai.OpenAI(
        api_key="sk-bench",
        base_url="https://api.openai.com/v1",
        http_client=httpx_client(provider="openai", transport=Replay(JSON)),
    )
    cached_ns: list[int] = []

    def cached_call() -> None:
        st.guard = cached
        start = time.perf_counter_ns()
        _call(client)
        cached_ns.append(time.perf_counter_ns() - start)
        st.guard = reserving

    with client:
        benchmark.pedantic(_call, (client,), setup=cached_call, rounds=ROUNDS, warmup_rounds=20)
    backend = database_url.split(":")[0]
    benchmark.group = f"openai chat json, in-memory, reserve vs cached block check, {backend}"
    if not benchmark.disabled:
        cached_median = statistics.median(cached_ns[20:]) / 1000
        benchmark.extra_info["cached_median_us"] = round(cached_median, 1)
        benchmark.extra_info["added_us"] = round(
            benchmark.stats.stats.median * 1e6 - cached_median, 1
        )
    assert llmledger.flush() is True
    with st.engine.connect() as connection:  # every reservation released by the writer
        held = select(func.count()).select_from(budget_reservations)
        assert connection.execute(held).scalar() == 0
    assert preflight.problems == {}
    llmledger.shutdown()
