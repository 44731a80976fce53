"""A ledger that arrives in many small batches rolls up as fast as the same ledger in one chunk.

The planner feeds the kernels many batches (archive files, SQL pages, Ray partitions), and a
frame concatenated from them has a chunk per batch. Here: `rollup(frame, by=["feature",
"tenant"])` and `rollup(frame, by=["model"], bucket="day")`, each from the frame as a user
holds it (the core is handed the frame anew every time), on a ledger of 4,000-call batches
(`analytics_workload.arriving_in_batches`), on the same ledger rechunked into one chunk, and
Polars' `group_by` computing the same outputs on the chunked frame, all in the same process.

In the test suite (`pytest benches --benchmark-disable`) it runs once on a small ledger and
checks that the chunked and the one-chunk frame give the same result exactly, and the same
sums as Polars. To measure (medians of interleaved rounds, and ratios):

    python benches/bench_chunked.py 10000000 4000
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).parent))
import analytics_workload as wl

from llmledger import BUCKETS, analytics

ROWS = int(os.environ.get("LLMLEDGER_BENCH_ROWS", "100000"))
BATCH_ROWS = int(os.environ.get("LLMLEDGER_BENCH_BATCH_ROWS", "1000"))
QUERIES = {
    "feature, tenant": {"by": ["feature", "tenant"]},
    "day, model": {"by": ["model"], "bucket": "day"},
}


def run_llmledger(frame: pl.DataFrame, query: str) -> pl.DataFrame:
    return analytics.rollup(frame, **QUERIES[query])


def run_polars(frame: pl.DataFrame, query: str) -> pl.DataFrame:
    """The same outputs (no `backfilled_cost`: the workload has none) by Polars' `group_by`."""
    lat = pl.col("latency_ms")
    keys = (
        [pl.col("tags").struct.field("feature"), pl.col("tags").struct.field("tenant")]
        if query == "feature, tenant"
        else [pl.col("at").dt.truncate("1d").alias("day"), pl.col("model")]
    )
    return (
        frame.lazy()
        .group_by(keys)
        .agg(
            pl.len().alias("calls"),
            pl.col("cost").null_count().alias("unpriced_calls"),
            pl.col("cost").sum(),
            *(pl.col(b).sum() for b in BUCKETS),
            lat.mean().alias("latency_ms_mean"),
            lat.quantile(0.5, "linear").alias("latency_ms_p50"),
            lat.quantile(0.95, "linear").alias("latency_ms_p95"),
            lat.max().alias("latency_ms_max"),
        )
        .collect()
    )


def frames(rows: int, batch_rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ledger in batches of `batch_rows` (a chunk each), and in one chunk."""
    chunked = wl.arriving_in_batches(rows, wl.price_histories(), batch_rows)
    return chunked, chunked.rechunk()


CASES = {
    "llmledger, chunked": lambda f, q: run_llmledger(f[0], q),
    "llmledger, one chunk": lambda f, q: run_llmledger(f[1], q),
    "polars, chunked": lambda f, q: run_polars(f[0], q),
}


@pytest.fixture(scope="module")
def ledgers():
    return frames(ROWS, BATCH_ROWS)


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("case", CASES)
def test_rollup_of_a_chunked_ledger(benchmark, ledgers, case, query):
    benchmark.group = f"rollup by {query}, {ROWS:,} rows in batches of {BATCH_ROWS:,}"
    out = benchmark.pedantic(CASES[case], args=(ledgers, query), rounds=5, warmup_rounds=1)
    assert out.height == run_llmledger(ledgers[1], query).height


@pytest.mark.parametrize("query", QUERIES)
def test_chunked_and_one_chunk_agree(ledgers, query):
    chunked, one = ledgers
    assert chunked.n_chunks() == -(-ROWS // BATCH_ROWS) and one.n_chunks() == 1
    ours = run_llmledger(chunked, query)
    assert_frame_equal(ours, run_llmledger(one, query))
    theirs = run_polars(chunked, query)
    for column in ("calls", "unpriced_calls", "cost", *BUCKETS):
        assert ours[column].sum() == theirs[column].sum(), column


def main(rows: int, batch_rows: int, repeat: int = 7) -> None:
    ledgers = frames(rows, batch_rows)
    print(f"{rows:,} calls in {ledgers[0].n_chunks():,} batches of {batch_rows:,}")
    for query in QUERIES:
        times: dict[str, list[float]] = {case: [] for case in CASES}
        cpu: dict[str, list[float]] = {case: [] for case in CASES}
        for case in CASES:  # warm-up
            CASES[case](ledgers, query)
        for _ in range(repeat):  # interleaved, so a busy spell of the machine hits every case
            for case, run in CASES.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                run(ledgers, query)
                times[case].append(time.perf_counter() - start)
                cpu[case].append(time.process_time() - start_cpu)
        # CPU time (all threads) beside the time taken: on a shared machine the second is
        # what the other processes left, the first the work done.
        print(f"rollup by {query}, median of {repeat} (time taken; CPU time, all threads):")
        one = statistics.median(times["llmledger, one chunk"])
        one_cpu = statistics.median(cpu["llmledger, one chunk"])
        for case in CASES:
            m, c = statistics.median(times[case]), statistics.median(cpu[case])
            print(
                f"  {case:22s} {m * 1000:8.1f} ms x{m / one:5.2f};"
                f" CPU {c * 1000:8.1f} ms x{c / one_cpu:5.2f} of one chunk"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
