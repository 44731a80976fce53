"""What a "block" budget's preflight adds to an instrumented call, its totals cached: the same
call, on the same instrumented client and in-memory transport, with the budget checked and
without (its guard taken out for that call only), interleaved so both see the same load.
Target: median added < 20 us. Run: `pytest benches/bench_budget_preflight.py --benchmark-only`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from bench_capture_latency import JSON, ROUNDS, Replay, _call

import llmledger
from llmledger import config
from llmledger.capture import httpx_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


@pytest.fixture
def budgeted(tmp_path):
    budgets = [
        llmledger.Budget("month", usd=500, action="block"),
        llmledger.Budget("day", usd=5, per="tenant", action="block"),
    ]
    llmledger.configure(f"sqlite:///{tmp_path / 'bench.db'}", budgets=budgets)
    yield
    llmledger.shutdown()


def test_preflight_added(benchmark: Any, budgeted: None) -> None:
    st = config.state()
    guard = st.guard
    client = openai.OpenAI(
        api_key="sk-bench",
        base_url="https://api.openai.com/v1",
        http_client=httpx_client(provider="openai", transport=Replay(JSON)),
    )
    plain_ns: list[int] = []

    def unbudgeted_call() -> None:
        st.guard = None
        start = time.perf_counter_ns()
        _call(client, False)
        plain_ns.append(time.perf_counter_ns() - start)
        st.guard = guard

    with client, llmledger.tags(tenant="acme"):
        benchmark.pedantic(
            _call, (client, False), setup=unbudgeted_call, rounds=ROUNDS, warmup_rounds=20
        )
    benchmark.group = "openai chat json, in-memory, block budgets vs none"
    if not benchmark.disabled:
        plain_median = statistics.median(plain_ns[20:]) / 1000
        benchmark.extra_info["plain_median_us"] = round(plain_median, 1)
        benchmark.extra_info["added_us"] = round(
            benchmark.stats.stats.median * 1e6 - plain_median, 1
        )
    assert llmledger.flush() is True


def test_preflight_alone(benchmark: Any, budgeted: None) -> None:
    """The check itself, cached: two budgets, the whole app's and the tenant's."""
    guard = config.state().guard
    tags = {"tenant": "acme", "feature": "chat"}
    guard.preflight(tags, "openai", None)  # fills the cache
    benchmark(guard.preflight, tags, "openai", None)
