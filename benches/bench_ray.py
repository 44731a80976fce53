"""`rollup(archive_uri, engine="ray")` on a local 2-CPU Ray cluster against the local path,
over the same archive in the same process: Ray's overhead on one machine (it need not win
there), and the same answer (checked equal, frame for frame).

The archive is `bench_archive`'s: `bench_sql_rollup`'s ledger (90 days, so 90 files; 200
models, 50 features, 10,000 Zipf tenants, 1,000,000 users) archived by the nightly job:

    LLMLEDGER_BENCH_ARCHIVE_ROWS=2000000 LLMLEDGER_BENCH_SQL_DIR=/tmp/ledgers \\
        pytest benches/bench_ray.py --benchmark-enable --benchmark-only

N defaults to 20,000 so the suite's `--benchmark-disable` pass stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path

import bench_sql_rollup
import pytest
import ray
from bench_archive import DAY_US, GROUPINGS, LAST_DAY, ROUNDS, N
from bench_sql_rollup import _sqlite_file
from polars.testing import assert_frame_equal

from llmledger.analytics import rollup
from llmledger.archive import archive_closed_days
from llmledger.store import make_engine


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> str:
    directory = os.environ.get("LLMLEDGER_BENCH_SQL_DIR")
    folder = Path(directory) if directory else tmp_path_factory.mktemp("ray")
    folder.mkdir(parents=True, exist_ok=True)
    bench_sql_rollup.N = N  # its file, at this size
    engine = make_engine(f"sqlite:///{_sqlite_file(folder)}")
    uri = str(tmp_path_factory.mktemp("archive") / "full")
    archive_closed_days(engine, uri, N, now_us=(LAST_DAY + 1) * DAY_US)
    engine.dispose()
    return uri


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("grouping", list(GROUPINGS))
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_rollup(benchmark, archive, grouping, engine):
    benchmark.group = f"rollup of the archive by {grouping}, {N:,} calls, 2 CPUs"
    by, bucket = GROUPINGS[grouping]
    kwargs = {"bucket": bucket, "engine": engine}
    if engine == "ray":
        rollup(archive, by, **kwargs)  # Ray exports the tasks' code on first use: not timed
    result = benchmark.pedantic(
        rollup, args=(archive, by), kwargs=kwargs, rounds=ROUNDS, iterations=1
    )
    assert result["calls"].sum() == N


@pytest.mark.parametrize("grouping", list(GROUPINGS))
def test_ray_gives_the_local_answer(archive, grouping):
    by, bucket = GROUPINGS[grouping]
    local = rollup(archive, by, bucket=bucket)
    assert_frame_equal(rollup(archive, by, bucket=bucket, engine="ray"), local, check_exact=True)
