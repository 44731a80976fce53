"""The archive: the nightly job's archive step, and rollups of the archive, each beside its
baseline in the same process.

- Writing: a full rebuild of the archive, and a run with one new closed day (the table holding
  every day before it), against the fastest SQL-to-Arrow read of the same calls (llmledger's
  own path, `read_batches`, every archived column and the three tags). Targets: one new day
  at most 5% of a full rebuild; a full rebuild at most 1.5x the read.
- Reading: `rollup(archive_uri, ...)` by (feature, tenant), and by model and day, against
  what a user would otherwise write: Polars' `scan_delta` + `group_by` computing the same
  outputs (counts, unpriced calls, cost recorded else backfilled, backfilled cost, the eight
  token sums, latency mean, p50, p95, max). Target: at least 1.5x faster.

The ledger is `bench_sql_rollup`'s (90 days, 200 models of 5 providers, 50 features, 10,000
Zipf tenants, 1,000,000 users) in a SQLite file:

    LLMLEDGER_BENCH_ARCHIVE_ROWS=2000000 LLMLEDGER_BENCH_SQL_DIR=/tmp/ledgers \\
        pytest benches/bench_archive.py --benchmark-enable --benchmark-only

N defaults to 20,000 so the suite's `--benchmark-disable` pass stays quick.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import bench_sql_rollup
import polars as pl
import pytest
from bench_sql_rollup import _sqlite_file

from llmledger.analytics import rollup
from llmledger.analytics.source import Query, read_batches
from llmledger.archive import ARCHIVE_COLUMNS, archive_closed_days
from llmledger.store import make_engine
from llmledger.store.derived import LOOKBACK_IDS
from llmledger.store.schema import BUCKETS

N = int(os.environ.get("LLMLEDGER_BENCH_ARCHIVE_ROWS", "20000"))
ROUNDS = int(os.environ.get("LLMLEDGER_BENCH_ARCHIVE_ROUNDS", "3"))
DAY_US = 86_400_000_000
LAST_DAY = 20_454 + 89  # the workload's 90th day
TAGS = ["feature", "tenant", "user_id"]
GROUPINGS = {"feature, tenant": (["feature", "tenant"], None), "day, model": (["model"], "day")}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    directory = os.environ.get("LLMLEDGER_BENCH_SQL_DIR")
    folder = Path(directory) if directory else tmp_path_factory.mktemp("archive")
    folder.mkdir(parents=True, exist_ok=True)
    bench_sql_rollup.N = N  # its file, at this size
    engine = make_engine(f"sqlite:///{_sqlite_file(folder)}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def archives(engine, tmp_path_factory):
    """A full archive, and one of every day but the last (to add the last to)."""
    folder = tmp_path_factory.mktemp("archives")
    full, but_last = str(folder / "full"), str(folder / "but-last")
    archive_closed_days(engine, full, N, now_us=(LAST_DAY + 1) * DAY_US)
    archive_closed_days(engine, but_last, N, now_us=LAST_DAY * DAY_US)
    return full, but_last, folder


def _sql_read(engine) -> int:
    query = Query(columns=ARCHIVE_COLUMNS, tags=TAGS, backfilled=True)
    return sum(b.num_rows for b in read_batches(engine, query))


def test_write(benchmark, engine, archives, tmp_path):
    benchmark.group = f"archive write, {N:,} calls"
    benchmark.name = "full rebuild"
    uri = str(tmp_path / "rebuilt")
    run = benchmark.pedantic(
        archive_closed_days,
        args=(engine, uri, N),
        kwargs={"rebuild": True, "now_us": (LAST_DAY + 1) * DAY_US},
        rounds=ROUNDS,
        iterations=1,
    )
    assert (run.days, run.calls) == (90, N)


def test_write_one_new_day(benchmark, engine, archives):
    benchmark.group = f"archive write, {N:,} calls"
    _, but_last, folder = archives
    copies = iter(range(ROUNDS + 1))

    def setup():
        copy = str(folder / f"copy-{next(copies)}")
        shutil.copytree(but_last, copy)
        return (engine, copy, N), {"now_us": (LAST_DAY + 1) * DAY_US}

    run = benchmark.pedantic(archive_closed_days, setup=setup, rounds=ROUNDS, iterations=1)
    # The run also rereads the days of the last LOOKBACK_IDS ids (a server's slow writers):
    # within the last day once a day has more calls than that.
    assert run.days == 1 if N // 90 > LOOKBACK_IDS else run.days >= 1


def test_write_baseline_sql_read(benchmark, engine):
    benchmark.group = f"archive write, {N:,} calls"
    assert benchmark.pedantic(_sql_read, args=(engine,), rounds=ROUNDS, iterations=1) == N


def _polars(uri: str, by: list[str], bucket: str | None) -> pl.DataFrame:
    """The rollup's outputs, as a user would write them over the archive with Polars."""
    keys = [pl.col("day")] if bucket == "day" else []
    keys += [pl.col(k if k == "model" else f"tags.{k}").alias(k) for k in by]
    cost = pl.coalesce("cost", "backfilled_cost")
    latency = pl.col("latency_ms")
    return (
        pl.scan_delta(uri)
        .group_by(keys)
        .agg(
            calls=pl.len(),
            unpriced_calls=cost.is_null().sum(),
            cost=cost.sum(),
            backfilled_cost=pl.col("backfilled_cost").filter(pl.col("cost").is_null()).sum(),
            **{b: pl.col(b).sum() for b in BUCKETS},
            latency_ms_mean=latency.mean(),
            latency_ms_p50=latency.quantile(0.5, "linear"),
            latency_ms_p95=latency.quantile(0.95, "linear"),
            latency_ms_max=latency.max(),
        )
        .collect()
    )


@pytest.mark.parametrize("grouping", list(GROUPINGS))
@pytest.mark.parametrize("reader", ["rollup(archive_uri)", "Polars scan_delta + group_by"])
def test_rollup(benchmark, archives, grouping, reader):
    benchmark.group = f"rollup of the archive by {grouping}, {N:,} calls"
    by, bucket = GROUPINGS[grouping]
    full = archives[0]
    if reader == "rollup(archive_uri)":
        run, args = rollup, (full, by)
        kwargs = {"bucket": bucket}
    else:
        run, args, kwargs = _polars, (full, by, bucket), {}
    result = benchmark.pedantic(run, args=args, kwargs=kwargs, rounds=ROUNDS, iterations=1)
    assert result["calls"].sum() == N


@pytest.mark.parametrize("grouping", list(GROUPINGS))
def test_the_baseline_computes_the_same_outputs(archives, grouping):
    by, bucket = GROUPINGS[grouping]
    keys = ([bucket] if bucket else []) + by
    ours = rollup(archives[0], by, bucket=bucket).sort(keys)
    polars = _polars(archives[0], by, bucket).sort(keys)
    assert ours["calls"].to_list() == polars["calls"].to_list()
    assert ours["unpriced_calls"].to_list() == polars["unpriced_calls"].to_list()
    assert [int(c.scaleb(12)) if c is not None else 0 for c in ours["cost"]] == (
        polars["cost"].to_list()
    )
    assert ours["input_tokens"].to_list() == polars["input_tokens"].to_list()
    assert ours["latency_ms_p95"].to_list() == pytest.approx(polars["latency_ms_p95"].to_list())
