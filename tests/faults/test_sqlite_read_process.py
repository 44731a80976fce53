"""The SQLite reader process: the same rows as the in-process read, its failures raised in
the caller, and never left behind (stopped early, parent killed, no stdin, forked worker)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from analytics.sql_rows import insert_rows, random_rows
from polars.testing import assert_frame_equal

from llmledger.analytics import rollup, sqlite_reader
from llmledger.analytics import source as source_module
from llmledger.analytics.sqlite_reader import (
    ReaderNotStarted,
    ReaderProcessError,
    read_in_own_process,
)
from llmledger.store import make_engine, upgrade
from llmledger.store.read import read_calls

SCHEMA = pa.schema([("id", pa.int64()), ("latency_ms", pa.float64()), ("model", pa.string())])
CASES = [
    dict(by=["feature", "tenant"]),
    dict(by=["provider", "model"], bucket="day"),
    dict(by=["tenant"], bucket="hour", tz="+05:30", since="2026-01-02", until="2026-01-04"),
    dict(by=["model", "feature"], where={"tenant": "Ünïcode ☃"}),
    dict(by=["feature"], where={"tenant": None, "provider": "openai"}),
]


@pytest.fixture
def database(tmp_path) -> str:
    path = str(tmp_path / "ledger.db")
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    insert_rows(engine, random_rows(600, seed=7))
    engine.dispose()
    return path


@pytest.fixture
def reader_process(monkeypatch):
    """Every read through the reader process, in two partitions (halves of ids or of time)."""
    monkeypatch.setattr(sqlite_reader, "SMALL_READ_ROWS", 0)
    monkeypatch.setattr(source_module, "_PARTITION_MIN_ROWS", 10)


def _children() -> set[int]:
    """This process's live or unreaped child processes."""
    found = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c["by"]))
def test_reader_process_gives_the_in_memory_result(database, reader_process, case):
    engine = make_engine(f"sqlite:///{database}")
    keys = ([case["bucket"]] if "bucket" in case else []) + case["by"]
    from_file = rollup(engine, **case).sort(keys, nulls_last=True)
    in_memory = rollup(read_calls(engine), **case).sort(keys, nulls_last=True)
    engine.dispose()
    assert_frame_equal(from_file, in_memory, check_exact=True)


def test_a_request_larger_than_a_pipe_buffer_is_read(database, reader_process):
    engine = make_engine(f"sqlite:///{database}")
    long_value = "acme" * 100_000
    assert rollup(engine, by=["feature"], where={"tenant": long_value}).height == 0
    assert rollup(engine, by=["feature"], where={"tenant": "acme"})["calls"].sum() > 0
    engine.dispose()


def test_its_error_is_raised_here_with_its_message(database):
    read = read_in_own_process(
        database, ["SELECT id, nonesuch, model FROM llmledger_calls"], SCHEMA,
        batch_rows=100, busy_timeout=1,
    )  # fmt: skip
    with pytest.raises(ReaderProcessError, match="no such column: nonesuch"):
        list(read)
    assert _children() == set()


def test_stopping_early_ends_and_reaps_it(database):
    sql = "SELECT id, latency_ms, model FROM llmledger_calls"
    read = read_in_own_process(database, [sql, sql], SCHEMA, batch_rows=10, busy_timeout=1)
    first = next(read)
    assert first.schema == SCHEMA and first.num_rows == 9  # 10, less the row pinning types
    assert len(_children()) == 1
    read.close()
    assert _children() == set()


def test_every_row_comes_once_in_the_requested_types(database):
    halves = ["id <= 300", "id > 300"]
    sqls = [f"SELECT id, latency_ms, model FROM llmledger_calls WHERE {h}" for h in halves]
    table = pa.Table.from_batches(
        read_in_own_process(database, sqls, SCHEMA, batch_rows=64, busy_timeout=1), SCHEMA
    )
    assert sorted(table["id"].to_pylist()) == list(range(1, 601))


@pytest.mark.parametrize("request_bytes", [10, 1_000_000], ids=["small", "over-a-pipe-buffer"])
def test_a_start_that_hangs_is_bounded(database, monkeypatch, tmp_path, request_bytes):
    # A child that never reads its request: one larger than the pipe's buffer must not block
    # the write of it either.
    hangs = tmp_path / "hangs"
    hangs.write_text("#!/bin/sh\nexec sleep 60\n")
    hangs.chmod(0o755)
    monkeypatch.setattr(sqlite_reader, "PYTHON", str(hangs))
    monkeypatch.setattr(sqlite_reader, "START_TIMEOUT", 0.5)
    sql = f"SELECT '{'x' * request_bytes}'"
    began = time.monotonic()
    with pytest.raises(ReaderProcessError, match=r"did not start within 0\.5 s"):
        list(read_in_own_process(database, [sql], SCHEMA, batch_rows=10, busy_timeout=1))
    assert time.monotonic() - began < 5
    assert _children() == set()


def test_a_start_that_fails_says_why(database, monkeypatch, tmp_path):
    fails = tmp_path / "fails"
    fails.write_text("#!/bin/sh\necho 'No module named adbc_driver_sqlite' >&2\nexit 1\n")
    fails.chmod(0o755)
    monkeypatch.setattr(sqlite_reader, "PYTHON", str(fails))
    with pytest.raises(ReaderProcessError, match="could not start: No module named adbc"):
        list(read_in_own_process(database, ["SELECT 1"], SCHEMA, batch_rows=10, busy_timeout=1))
    assert _children() == set()


def _program(tmp_path: Path, name: str) -> str:
    """An executable that is not Python, as an embedded interpreter's `sys.executable` is."""
    if name == "missing":
        return str(tmp_path / "no-such-python")
    if name == "not-executable":
        plain = tmp_path / "python"
        plain.write_text("")
        return str(plain)
    return shutil.which(name)  # false exits at once; cat answers with the request itself


@pytest.mark.parametrize("program", ["missing", "not-executable", "false", "cat"])
def test_a_reader_that_cannot_start_falls_back_to_this_process(
    database, reader_process, monkeypatch, caplog, tmp_path, program
):
    monkeypatch.setattr(source_module, "_reader_not_started", None)
    engine = make_engine(f"sqlite:///{database}")
    case = dict(by=["feature", "tenant"], bucket="day")
    keys = ["day", "feature", "tenant"]
    normal = rollup(engine, **case).sort(keys, nulls_last=True)
    assert normal["calls"].sum() == 600
    monkeypatch.setattr(sqlite_reader, "PYTHON", _program(tmp_path, program))
    with caplog.at_level(logging.WARNING, logger="llmledger"):
        fallback = rollup(engine, **case).sort(keys, nulls_last=True)
        again = rollup(engine, **case).sort(keys, nulls_last=True)
    engine.dispose()
    assert_frame_equal(fallback, normal, check_exact=True)
    assert_frame_equal(again, normal, check_exact=True)
    # Said once, with why; the second read did not try to start the process again.
    [said] = [r.getMessage() for r in caplog.records if "reader process" in r.getMessage()]
    assert "could not start" in said and "go through this process's sqlite3" in said
    assert _children() == set()


def test_a_reader_that_started_then_failed_is_an_error_not_a_fallback(
    database, reader_process, monkeypatch, tmp_path
):
    monkeypatch.setattr(source_module, "_reader_not_started", None)
    ready_then_fails = tmp_path / "ready-then-fails"
    # It reads its request first, as the reader does: a child gone before the request is
    # written is one that did not start (a broken pipe), which falls back instead.
    ready_then_fails.write_text(
        "#!/bin/sh\nread -r request\nprintf R\n"
        "echo 'database disk image is malformed' >&2\nexit 1\n"
    )
    ready_then_fails.chmod(0o755)
    monkeypatch.setattr(sqlite_reader, "PYTHON", str(ready_then_fails))
    engine = make_engine(f"sqlite:///{database}")
    with pytest.raises(ReaderProcessError, match="failed: database disk image is malformed"):
        rollup(engine, by=["feature"])
    engine.dispose()
    assert source_module._reader_not_started is None


def test_not_starting_is_said_before_any_row(database, monkeypatch, tmp_path):
    monkeypatch.setattr(sqlite_reader, "PYTHON", str(tmp_path / "no-such-python"))
    read = read_in_own_process(database, ["SELECT 1"], SCHEMA, batch_rows=10, busy_timeout=1)
    with pytest.raises(ReaderNotStarted, match=r"could not start: .*No such file"):
        next(read)


def _script(body: str) -> str:
    return textwrap.dedent(
        """
        import os, sys
        import llmledger
        from llmledger.analytics import sqlite_reader
        from llmledger.analytics.sqlite_reader import read_in_own_process
        from llmledger.store import make_engine
        from llmledger.store.read import read_calls
        import pyarrow as pa
        sqlite_reader.SMALL_READ_ROWS = 0
        database = sys.argv[1]
        url = "sqlite:///" + database
        """
    ) + textwrap.dedent(body)


def test_parent_killed_mid_read_leaves_no_reader_behind(database):
    # The parent prints its reader's pid after the first batch, then waits to be killed.
    script = _script(
        """
        sql = "SELECT id, latency_ms, model FROM llmledger_calls"
        schema = pa.schema([("id", pa.int64()), ("latency_ms", pa.float64()),
                            ("model", pa.string())])
        read = read_in_own_process(database, [sql], schema, batch_rows=10, busy_timeout=1)
        next(read)
        tasks = f"/proc/{os.getpid()}/task"
        print(" ".join(open(f"{tasks}/{t}/children").read() for t in os.listdir(tasks)),
              flush=True)
        import time; time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, database],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    (reader,) = map(int, parent.stdout.readline().split())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(reader):
        time.sleep(0.05)
    assert not _alive(reader)


def _alive(pid: int) -> bool:
    """Running (an exited process waiting for its new parent to reap it does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_a_forked_worker_without_stdin_reads_through_it(database):
    # As a pre-forking server's worker: fd 0 closed, then forked after the app imported
    # llmledger and opened the ledger; the worker rolls up through the reader process.
    script = _script(
        """
        os.close(0)
        llmledger.configure(url, spool_path=database + ".spool.jsonl")
        llmledger.track("openai", "gpt-4o", input_tokens=10, tags={"tenant": "forked"})
        llmledger.flush()
        pid = os.fork()
        if pid == 0:
            engine = make_engine(url)
            got = llmledger.rollup(engine, by=["tenant"]).sort("tenant")
            want = llmledger.rollup(read_calls(engine), by=["tenant"]).sort("tenant")
            os._exit(0 if got.equals(want) and got["calls"].sum() == 601 else 1)
        _, status = os.waitpid(pid, 0)
        llmledger.shutdown()
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, database], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
