"""Several processes on one SQLite ledger file, as apps and the nightly job use it: the file
stays whole and every accepted call is stored exactly once.

Before the reader process, a rollup read the file through ADBC's bundled SQLite inside the
recording process; closing that connection dropped the writer's POSIX locks, the nightly job
in another process then took the file for its own, and the ledger was corrupted ("database
disk image is malformed", lost rows). Both tests failed that way.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmledger.store import make_engine, upgrade

ROLES = Path(__file__).with_name("sqlite_roles.py")
LLMLEDGER = shutil.which("llmledger", path=os.path.dirname(sys.executable))


def _start(log: Path, *args: str) -> subprocess.Popen:
    # stderr to a file: a process logging more than a pipe holds must not block on it.
    with open(log, "a") as stderr:
        return subprocess.Popen(
            [sys.executable, str(ROLES), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def _accepted(process: subprocess.Popen, log: Path) -> list[str]:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, log.read_text()[-3000:]
    return json.loads(out) if out else []


def _assert_whole(database: Path, accepted: list[str]) -> None:
    """`PRAGMA integrity_check` passes, nothing was set aside, and the ledger holds exactly
    the accepted calls, each once."""
    set_aside = sorted(p.name for p in database.parent.glob("*.rejected.jsonl"))
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = [row[0] for row in connection.execute("SELECT event_id FROM llmledger_calls")]
    finally:
        connection.close()
    assert set_aside == []
    assert len(accepted) == len(set(accepted))
    twice = [e for e, n in collections.Counter(stored).items() if n > 1]
    assert twice == []
    assert sorted(stored) == sorted(accepted)


def _reaggregate(database: Path) -> None:
    done = subprocess.run(
        [LLMLEDGER, "reaggregate", "--db", f"sqlite:///{database}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reaggregate: ")


@pytest.mark.parametrize("route", ["in-process read", "reader process"])
def test_record_rollup_nightly_job_record(tmp_path, route):
    # The sequence: an app records calls dated over six weeks and rolls them up; the
    # nightly job runs from another process; the app records on.
    database = tmp_path / "ledger.db"
    flags = ["--reader-process"] if route == "reader process" else []
    log = tmp_path / "roles.log"
    accepted = _accepted(_start(log, "sequence", str(database), "0", "1", *flags), log)
    assert len(accepted) == 600
    _assert_whole(database, accepted)


def _nightly(log: Path, database: str) -> subprocess.Popen:
    with open(log, "a") as stderr:
        return subprocess.Popen(
            [LLMLEDGER, "reaggregate", "--db", f"sqlite:///{database}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # its summary; the exit status says it succeeded
            stderr=stderr,
            text=True,
        )


def test_writers_rollups_nightly_job_and_readers_at_once(tmp_path):
    # An app records and rolls up (through the reader process) all along, ~10 s. Meanwhile, in
    # rounds: three writers, a rollup (reader process), a calls() reader and the nightly job
    # run at once, as short-lived processes (workers, cron jobs and commands come and go);
    # when they have all ended, the nightly job runs again, alone with the app.
    database = str(tmp_path / "ledger.db")
    log = tmp_path / "roles.log"
    seconds = 10
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)  # the tables exist before anyone starts
    engine.dispose()
    app = _start(log, "writer+rollup", database, str(seconds), "0", "--reader-process")
    accepted: list[str] = []
    rounds = 0
    running: list[subprocess.Popen] = [app]
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline - 1:
            seed = 10 * rounds
            crowd = [_start(log, "writer", database, "0.5", str(seed + i)) for i in (1, 2, 3)]
            crowd.append(_start(log, "rollup", database, "0.5", str(seed + 4), "--reader-process"))
            crowd.append(_start(log, "reader", database, "0.5", str(seed + 5)))
            crowd.append(_nightly(log, database))
            running += crowd
            for process in crowd:
                accepted += _accepted(process, log)
            _reaggregate(Path(database))
            rounds += 1
        accepted += _accepted(app, log)
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert rounds >= 1
    _reaggregate(Path(database))
    _assert_whole(Path(database), accepted)
