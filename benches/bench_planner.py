"""The planner: `rollup(engine, ..., latency="mean")` before and after the nightly job, against
the database's own GROUP BY of the same sums, same process.

Two questions, on the workload of bench_sql_rollup (90 days, 200 models, 50 features, 10,000
Zipf tenants; calls in time order, as they are recorded):

- by (feature, tenant), and by model per day;
- before any job ran (the planner pushes the GROUP BY down to the ledger) and after
  `llmledger reaggregate` with its archive (beside a SQLite file by default; on PostgreSQL in
  a temporary folder named by LLMLEDGER_ARCHIVE_URI): the daily rollup table, or the archive
  where the table holds about a row per call (as here), answers every day but the last.

After the job, the planner runs twice: with the latency mean (the GROUP BY's outputs) and
with p50/p95 as well (the default, which no GROUP BY gives). Each run's plan
(`explain=True`) is kept in the benchmark's extra_info.

    LLMLEDGER_BENCH_SQL_ROWS=1000000 LLMLEDGER_BENCH_SQL_DIR=/tmp/ledgers \\
        pytest benches/bench_planner.py --benchmark-enable --benchmark-only

PostgreSQL runs when LLMLEDGER_TEST_POSTGRES_URL is set (its ledger is written per run).
"""

from __future__ import annotations

import io
import os
import shutil

import polars as pl
import pytest
from bench_sql_rollup import BUCKETS, ROUNDS, N, postgres_engine, sqlite_engine  # noqa: F401

from llmledger.analytics import planner, rollup
from llmledger.archive.location import ENV_VARIABLE
from llmledger.reaggregate import reaggregate
from llmledger.store import make_engine

CASES = {
    "feature,tenant": dict(by=["feature", "tenant"]),
    "day,model": dict(by=["model"], bucket="day"),
}


def _group_by(engine, case: str) -> int:
    """The database's own GROUP BY: calls, the sums, latency mean and max."""
    if engine.dialect.name == "sqlite":
        tag = "CAST(json_extract(tags, '$.{0}') AS TEXT)".format
    else:
        tag = "(tags ->> '{0}')".format
    keys = f"{tag('feature')}, {tag('tenant')}"
    if case == "day,model":
        keys = "at_us / 86400000000, model"
    sums = ", ".join(f"SUM({c})" for c in (*BUCKETS, "cost"))
    sql = (
        f"SELECT {keys}, COUNT(*), {sums}, AVG(latency_ms), MAX(latency_ms) "
        "FROM llmledger_calls GROUP BY 1, 2"
    )
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(sql).all()
    return sum(r[2] for r in rows)


def _planner(engine, case: str, latency: str = "mean") -> int:
    result = rollup(engine, latency=latency, **CASES[case])
    assert isinstance(result, pl.DataFrame)
    return result["calls"].sum()


def _percentiles(engine, case: str) -> int:
    return _planner(engine, case, latency="percentiles")


def _daily_table(engine, case: str) -> int:
    """The planner made to read the daily table however many rows per call it holds (on
    this workload, about one: nearly every call is a group of its own on its day)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planner, "DAILY_ROWS_PER_CALL", float("inf"))
        return _planner(engine, case)


@pytest.fixture(scope="module")
def sqlite_after_job(sqlite_engine, tmp_path_factory):  # noqa: F811
    """A copy of the SQLite ledger, rolled up by the job."""
    path = tmp_path_factory.mktemp("job") / "ledger.db"
    shutil.copy(sqlite_engine.url.database, path)
    engine = make_engine(f"sqlite:///{path}")
    reaggregate(engine, progress=io.StringIO())
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_after_job(postgres_engine, tmp_path_factory):  # noqa: F811
    """The PostgreSQL ledger rolled up by the job, its archive in a temporary folder that
    LLMLEDGER_ARCHIVE_URI names while this module's PostgreSQL cases run (they run last)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VARIABLE, str(tmp_path_factory.mktemp("archive") / "ledger.archive"))
        reaggregate(postgres_engine, progress=io.StringIO())
        yield postgres_engine


def _run(benchmark, engine, run, case):
    benchmark.extra_info["case"] = case
    if run is not _group_by:
        latency = "percentiles" if run is _percentiles else "mean"
        _, found = rollup(engine, latency=latency, explain=True, **CASES[case])
        benchmark.extra_info["plan"] = str(found)
        benchmark.extra_info["archive"] = os.environ.get(ENV_VARIABLE, "beside the file")
    calls = benchmark.pedantic(run, args=(engine, case), rounds=ROUNDS, iterations=1)
    assert calls == N


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("run", [_group_by, _planner], ids=["SQL GROUP BY", "planner"])
def test_sqlite_before_the_job(benchmark, sqlite_engine, run, case):  # noqa: F811
    benchmark.group = f"SQLite {N:,}, before the job, {case}"
    _run(benchmark, sqlite_engine, run, case)


AFTER = [_group_by, _planner, _percentiles, _daily_table]
AFTER_IDS = ["SQL GROUP BY", "planner", "planner, p50/p95", "planner, daily table forced"]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("run", AFTER, ids=AFTER_IDS)
def test_sqlite_after_the_job(benchmark, sqlite_after_job, run, case):
    benchmark.group = f"SQLite {N:,}, after the job, {case}"
    _run(benchmark, sqlite_after_job, run, case)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("run", AFTER, ids=AFTER_IDS)
def test_postgresql_after_the_job(benchmark, postgres_after_job, run, case):
    benchmark.group = f"PostgreSQL {N:,}, after the job, {case}"
    _run(benchmark, postgres_after_job, run, case)
