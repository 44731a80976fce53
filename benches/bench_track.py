"""The caller's cost of `track()` (pricing included) versus genai-prices' own `calc_price`.

Both price the same usage of the same model in the same process; `track()` also validates,
merges tags and queues the row for the background writer. Target: at least 5x cheaper.
Run: `make bench` (or `pytest benches/bench_track.py --benchmark-only`).
"""

import datetime as dt

from genai_prices import Usage, calc_price

import llmledger

AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
# 1000 fresh input, 200 cached, 300 output: genai-prices counts cached input inside input.
USAGE = Usage(input_tokens=1200, cache_read_tokens=200, output_tokens=300)
ROUNDS, ITERATIONS = 100, 100  # 10,000 calls: well under the writer's queue bound


def test_track(benchmark, ledger):
    def call():
        llmledger.track(
            "openai", "gpt-4o", input_tokens=1000, cache_read_tokens=200, output_tokens=300, at=AT
        )

    with llmledger.tags(feature="chat", tenant="acme"):
        benchmark.pedantic(call, rounds=ROUNDS, iterations=ITERATIONS, warmup_rounds=1)
    benchmark.group = "price one call"


def test_genai_prices_calc_price(benchmark):
    def call():
        calc_price(USAGE, "gpt-4o", provider_id="openai", genai_request_timestamp=AT)

    benchmark.pedantic(call, rounds=ROUNDS, iterations=ITERATIONS, warmup_rounds=1)
    benchmark.group = "price one call"


def test_same_cost(ledger):
    ours = llmledger.quote(
        "openai", "gpt-4o", input_tokens=1000, cache_read_tokens=200, output_tokens=300, at=AT
    )
    theirs = calc_price(USAGE, "gpt-4o", provider_id="openai", genai_request_timestamp=AT)
    assert ours.cost == theirs.total_price
