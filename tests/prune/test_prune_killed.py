"""A prune killed with SIGKILL between two batches, on SQLite, PostgreSQL and MariaDB: what it
committed stays, and running it again ends exactly as a prune that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from llmledger.reaggregate import AlreadyRunning
from prune.ledgers import cut, ledger, snapshot

CHILD = Path(__file__).parent / "prune_process.py"


def rerun_once_the_lock_is_free(engine):
    """The killed process's server session (which held the lock) ends when the server sees
    its socket close: a moment after the kill."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return cut(engine, batch_size=10)
        except AlreadyRunning:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_killed_prune_is_finished_by_running_it_again(engine, twin, tmp_path):
    for database in (engine, twin):
        ledger(database)
    whole = cut(twin, batch_size=10).calls
    marker = tmp_path / "stopped"
    url = engine.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), url, "10", "5", str(marker)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() or not marker.read_text():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the prune never reached its fifth batch"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
    # Five batches committed: the first day's 37 calls (10, 10, 10, 7), ten of the second's.
    assert marker.read_text() == "47"
    assert len(snapshot(engine)["events"]) == len(snapshot(twin)["events"]) + whole - 47
    assert rerun_once_the_lock_is_free(engine).calls == whole - 47
    assert snapshot(engine) == snapshot(twin)
