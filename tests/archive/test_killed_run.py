"""A run killed before its commit leaves the archive as it was; the next run ends where an
unkilled one would have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from analytics.sql_rows import insert_rows, random_rows
from deltalake import DeltaTable

from archive.ledgers import PRICED_LATER, later_rows, run
from llmledger.archive import archive_state
from llmledger.store import make_engine, upgrade

# Killed (SIGKILL: no cleanup of any kind) once every batch has gone to the writer, the
# moment before its commit.
KILLED_RUN = """
import os, signal, sys
from llmledger.archive import archive_closed_days
from llmledger.store import make_engine

def killed_at_the_end(batches):
    yield from batches
    os.kill(os.getpid(), signal.SIGKILL)

archive_closed_days(make_engine(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                    rebuild=sys.argv[4] == "rebuild", _wrap=killed_at_the_end)
"""


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def contents(uri: str) -> pl.DataFrame:
    table = pl.read_delta(uri)
    return table.select(sorted(table.columns)).sort("id")


def parquet_files(uri: str) -> set[Path]:
    return set(Path(uri).rglob("*.parquet"))


@pytest.mark.parametrize("mode", ["incremental", "rebuild"])
def test_a_killed_run_leaves_the_table_and_the_next_run_finishes(engine, tmp_path, mode):
    uri = str(tmp_path / "archive")
    insert_rows(engine, random_rows(300, seed=3))
    run(engine, uri)
    before, state, files = contents(uri), archive_state(uri), parquet_files(uri)
    insert_rows(engine, later_rows(60, first_event=300))
    run(engine, str(tmp_path / "unused"), pricer=PRICED_LATER)  # backfills in the database

    python_path = str(Path(__file__).parents[2] / "python")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, engine.url.render_as_string(False), uri, "360", mode],
        env={"PYTHONPATH": python_path, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    assert archive_state(uri) == state
    assert contents(uri).equals(before)
    assert DeltaTable(uri).version() == state.version

    summary = run(engine, uri, rebuild=mode == "rebuild")
    assert summary.archive.through_id == 360
    fresh = str(tmp_path / "fresh")
    run(engine, fresh)
    assert contents(uri).equals(contents(fresh))
    assert contents(uri).height == 360
    # A merged schema appends a new tag's column; a fresh table has them in sorted order.
    assert set(archive_state(uri).tag_keys) == set(archive_state(fresh).tag_keys)
    assert files <= parquet_files(uri)  # the old version's files are kept (time travel)
