"""`rollup(archive_uri, ...)` at scale: time linear in the calls read, peak memory below
2 GiB, because the archive is read and rolled up in parts, not all at once.

The archive is built straight from generated calls, not by the nightly job from a SQLite
ledger (an hour at 50M calls): `bench_sql_rollup.ledger`'s workload (90 days, 200 models of
5 providers, 5% unpriced, 50 features, 10,000 Zipf tenants, 1,000,000 users), generated a
day at a time, shaped as the job writes it (`archive.write._schema`: a `day` partition, each
tag a column `tags.<key>`) and written with delta-rs, the last commit carrying the job's
watermark (`archive.state.transactions`), so `archive_state` and `rollup(uri)` take it as
the job's.
`test_the_archive_holds_the_generated_calls` holds the generator to that: the archive's
rollup equals, exactly, the in-memory rollup of the same calls.

Each case is timed here, and its peak memory measured in a fresh process doing one rollup
(`VmHWM`, the resident high-water mark), minus a process that imports the same and rolls
nothing up:

    LLMLEDGER_BENCH_ARCHIVE_SCALE_ROWS=50000000 LLMLEDGER_BENCH_ARCHIVE_SCALE_ROUNDS=2 \\
        LLMLEDGER_BENCH_SQL_DIR=/tmp/ledgers \\
        pytest benches/bench_archive_scale.py --benchmark-enable --benchmark-only

N defaults to 20,000 so the suite's `--benchmark-disable` pass stays quick. With
LLMLEDGER_BENCH_SQL_DIR set, the archive is kept there and reused for the same N.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from bench_sql_rollup import DAY_US, START_US, workload_tokens
from deltalake import CommitProperties, write_deltalake

import llmledger
from llmledger.archive import archive_state
from llmledger.archive.state import transactions
from llmledger.archive.write import _schema

N = int(os.environ.get("LLMLEDGER_BENCH_ARCHIVE_SCALE_ROWS", "20000"))
ROUNDS = int(os.environ.get("LLMLEDGER_BENCH_ARCHIVE_SCALE_ROUNDS", "3"))
DAYS = 90
_DAYS_A_COMMIT = 15
TAGS = ["feature", "tenant", "user_id"]
CASES = {
    "by feature, tenant": {"by": ["feature", "tenant"]},
    "by feature, tenant, latency mean": {"by": ["feature", "tenant"], "latency": "mean"},
    "by model and day": {"by": ["model"], "bucket": "day"},
    "by model and day, latency mean": {"by": ["model"], "bucket": "day", "latency": "mean"},
}
_GiB = 1 << 30


def day_calls(day: int, n: int, first_id: int) -> pl.DataFrame:
    """The `n` calls of the workload's `day` (0-89), ids from `first_id`, in time order: the
    columns the archive keeps (those the workload leaves unset are null), each tag a column
    `tags.<key>`."""
    rng = np.random.default_rng([1, day])
    model = rng.integers(0, 200, n)
    tokens = workload_tokens(rng, n)
    tenant = np.minimum(rng.zipf(1.3, n), 10_000) - 1
    cost = rng.integers(0, 50_000_000_000, n)
    ids = np.arange(first_id, first_id + n)
    start = START_US + day * DAY_US
    frame = pl.DataFrame(
        {
            "day": pl.Series(np.full(n, 20_454 + day, dtype=np.int32)).cast(pl.Date),
            "id": ids,
            "event_id": pl.Series(ids).cast(pl.String).str.zfill(32),
            "at_us": np.sort(rng.integers(start, start + DAY_US, n)),
            "provider": pl.Series(model % 5).cast(pl.String).str.replace("^", "provider"),
            "model": pl.Series(model).cast(pl.String).str.replace("^", "model-"),
            **tokens,
            "cost": pl.Series(cost).set(pl.Series(model >= 190), None),
            "pricing_mode": np.where(rng.random(n) < 0.1, "batch", "standard"),
            "usage_source": pl.Series(["response"]).new_from_index(0, n),
            "status": pl.Series(["ok"]).new_from_index(0, n),
            "latency_ms": rng.gamma(2.0, 400.0, n).round(1),
            "tags.feature": pl.Series(rng.integers(0, 50, n)).cast(pl.String).str.replace("^", "f"),
            "tags.tenant": pl.Series(tenant).cast(pl.String).str.replace("^", "t"),
            "tags.user_id": pl.Series(rng.integers(0, 1_000_000, n))
            .cast(pl.String)
            .str.replace("^", "u"),
        }
    )
    return frame


def day_sizes(n: int) -> list[int]:
    """`n` calls spread over the 90 days as evenly as whole calls allow."""
    return [n // DAYS + (d < n % DAYS) for d in range(DAYS)]


def _batches(n: int, days: range, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    sizes = day_sizes(n)
    for day in days:
        table = day_calls(day, sizes[day], 1 + sum(sizes[:day])).to_arrow()
        missing = [f for f in schema if f.name not in table.column_names]
        for field in missing:
            table = table.append_column(field, pa.nulls(sizes[day], field.type))
        yield from table.select(schema.names).cast(schema).to_batches()


def build_archive(uri: str, n: int) -> None:
    """An archive of `n` generated calls at `uri`, as the nightly job would leave it after a
    run through the workload's last day: a day's calls in one file, the job's watermark in
    the last commit. Written `_DAYS_A_COMMIT` days at a time: the writer holds every day of
    a commit until it commits (5.3 GB for 90 days of 50M calls)."""
    schema = _schema(TAGS)
    for first in range(0, DAYS, _DAYS_A_COMMIT):
        days = range(first, min(first + _DAYS_A_COMMIT, DAYS))
        last = days.stop == DAYS
        write_deltalake(
            uri,
            pa.RecordBatchReader.from_batches(schema, _batches(n, days, schema)),
            partition_by=["day"],
            mode="overwrite" if first == 0 else "append",
            commit_properties=CommitProperties(
                custom_metadata={"llmledger.operation": "archive closed days"},
                app_transactions=transactions(n, START_US + DAYS * DAY_US, 0) if last else None,
            ),
        )


def ledger_frame(n: int) -> pl.DataFrame:
    """The same `n` calls as a ledger frame (tags as a struct), for the in-memory rollup."""
    frame = pl.concat(
        day_calls(day, size, 1 + sum(day_sizes(n)[:day])) for day, size in enumerate(day_sizes(n))
    )
    tags = pl.struct(*(pl.col(f"tags.{k}").alias(k) for k in TAGS)).alias("tags")
    return frame.select(pl.exclude("day", *(f"tags.{k}" for k in TAGS)), tags)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> str:
    directory = os.environ.get("LLMLEDGER_BENCH_SQL_DIR")
    folder = Path(directory) if directory else tmp_path_factory.mktemp("archive-scale")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"archive-{N}"
    if not path.exists():
        partial = folder / f"archive-{N}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        build_archive(str(partial), N)
        partial.rename(path)
    return str(path)


_PEAK = """
import json, sys, time
import llmledger
case = json.loads(sys.argv[2])
started = time.perf_counter()
calls = llmledger.rollup(sys.argv[1], **case)["calls"].sum() if case is not None else 0
seconds = time.perf_counter() - started
status = open("/proc/self/status").read().split("VmHWM:")[1].split()
print(json.dumps({"calls": calls, "seconds": seconds, "peak_kib": int(status[0])}))
"""


def _in_fresh_process(uri: str, case: dict | None) -> dict:
    """One rollup of `case` (None: none, the baseline) in a process of its own: the calls it
    counted, its time and the process's peak resident memory."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, uri, json.dumps(case)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def baseline_kib(archive) -> int:
    """The peak of a process that imports llmledger and rolls nothing up."""
    return _in_fresh_process(archive, None)["peak_kib"]


def test_the_archive_holds_the_generated_calls(tmp_path):
    n = 3_000
    uri = str(tmp_path / "archive")
    build_archive(uri, n)
    state = archive_state(uri)
    assert state is not None
    assert (state.through_id, state.until_us) == (n, START_US + DAYS * DAY_US)
    assert state.tag_keys == tuple(TAGS)
    frame = ledger_frame(n)
    for case in CASES.values():
        keys = [*([case["bucket"]] if "bucket" in case else []), *case["by"]]
        ours = llmledger.rollup(uri, **case).sort(keys)
        expected = llmledger.rollup(frame, **case).sort(keys)
        assert ours.equals(expected), case
        assert ours["calls"].sum() == n


@pytest.mark.parametrize("name", list(CASES))
def test_rollup(benchmark, archive, baseline_kib, name):
    benchmark.group = f"rollup of a {N:,}-call archive"
    case = CASES[name]
    result = benchmark.pedantic(
        llmledger.rollup, args=(archive,), kwargs=case, rounds=ROUNDS, iterations=1
    )
    assert result["calls"].sum() == N
    fresh = _in_fresh_process(archive, case)
    assert fresh["calls"] == N
    peak = (fresh["peak_kib"] - baseline_kib) * 1024
    # No stats when the suite runs benchmarks once, untimed: the fresh process's time then.
    seconds = benchmark.stats.stats.median if benchmark.stats else fresh["seconds"]
    benchmark.extra_info.update(
        {
            "calls": N,
            "seconds_per_million_calls": seconds / N * 1e6,
            "fresh_process_seconds": fresh["seconds"],
            "peak_bytes_above_baseline": peak,
            "baseline_peak_bytes": baseline_kib * 1024,
        }
    )
    assert peak < 2 * _GiB
