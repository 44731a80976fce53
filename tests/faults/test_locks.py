"""A SQLite file locked by another writer is an outage, never a reason to reject rows.

The lock is held the way a long transaction of the app (or another process) holds it. The
ledger's URL gives up on a lock after 0.1 s instead of the default 30, so the test sees the
failure rather than the wait.
"""

from __future__ import annotations

import contextlib
import sqlite3

from ledger_rows import event_ids, make_row

from llmledger.store import Writer, make_engine, upgrade
from llmledger.store.spool import Spool, encode_rows

EV = [make_row(n)["event_id"] for n in range(40)]


@contextlib.contextmanager
def write_lock(path):
    """Hold SQLite's write lock on `path` until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("COMMIT")
        holder.close()


def locked_ledger(tmp_path):
    database = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{database}?timeout=0.1")
    upgrade(engine)
    return database, engine


def test_a_lock_during_writes_keeps_rows_in_the_spool(tmp_path):
    database, engine = locked_ledger(tmp_path)
    spool = Spool(tmp_path / "spool.jsonl")
    writer = Writer(engine, spool_path=spool.path, retry_interval=3600)
    try:
        with write_lock(database):
            for n in range(20):
                writer.submit(make_row(n))
            assert writer.flush(timeout=30)
            assert spool.waiting() == 20
            assert writer.flush(timeout=30)  # a replay while still locked
            assert spool.waiting() == 20
        for n in range(20, 40):
            writer.submit(make_row(n))
        assert writer.flush(timeout=30)
        assert event_ids(engine) == EV
        assert spool.waiting() == 0 and spool.rejected() == 0
        assert writer.stats()["rejected"] == 0
    finally:
        writer.close()
        engine.dispose()


def test_a_lock_during_replay_rejects_nothing(tmp_path):
    # Rows spooled by an earlier run; this process starts while another holds the lock. A
    # `SELECT 1` still answers under WAL, so the lock once passed for every row's fault.
    database, engine = locked_ledger(tmp_path)
    spool = Spool(tmp_path / "spool.jsonl")
    spool.append(encode_rows(make_row(n) for n in range(40)))
    with write_lock(database):
        writer = Writer(engine, spool_path=spool.path, retry_interval=3600)
        try:
            assert writer.flush(timeout=30)
            assert writer.flush(timeout=30)
            assert spool.waiting() == 40
            assert spool.rejected() == 0
        finally:
            writer.close()
    writer = Writer(engine, spool_path=spool.path, retry_interval=3600)
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == EV
    assert spool.waiting() == 0 and spool.rejected() == 0
    engine.dispose()
