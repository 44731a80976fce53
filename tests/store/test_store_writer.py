"""The background writer: batched inserts, a spool through outages and full queues, exactly once."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from ledger_rows import event_ids, make_row
from outage import Outage
from sqlalchemy import text

from llmledger.store import Writer, make_engine
from llmledger.store.schema import BUCKETS
from llmledger.store.spool import Spool, encode_rows

EV = [make_row(n)["event_id"] for n in range(20)]


def outage_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "database unavailable" in r.getMessage()]


def spool_lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_batches_are_written_and_duplicates_kept_once(engine, tmp_path):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl", batch_size=7)
    for n in range(20):
        writer.submit(make_row(n))
    writer.submit(make_row(3))  # a retried event_id is the same call: stored once
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == EV
    assert writer.stats() == {
        "written": 21,  # rows sent; the database kept event 3 once
        "spooled": 0,
        "replayed": 0,
        "rejected": 0,
        "outages": 0,
        "errors": 0,
        "lost": 0,
    }
    assert not (tmp_path / "spool.jsonl").exists()


def test_outage_spools_then_replays_each_row_once(engine, database_url, tmp_path, caplog):
    # `engine` created the schema; the writer reaches the same database only through
    # `outage.url` (for SQLite, a database of its own that appears on recovery).
    caplog.set_level(logging.INFO, logger="llmledger")
    outage = Outage(database_url, tmp_path)
    spool = tmp_path / "spool.jsonl"
    # retry_interval: no idle retry during the test; replays come from flush() only.
    writer = Writer(make_engine(outage.url), spool_path=spool, retry_interval=3600)
    try:
        for n in range(3):
            writer.submit(make_row(n))
        assert writer.flush(timeout=30)
        for n in range(3, 5):
            writer.submit(make_row(n))
        assert writer.flush(timeout=30)
        assert spool_lines(spool) == 5
        assert writer.stats() | {"errors": 0} == {
            "written": 0,
            "spooled": 5,
            "replayed": 0,
            "rejected": 0,
            "outages": 1,
            "errors": 0,
            "lost": 0,
        }
        assert len(outage_warnings(caplog)) == 1  # once per outage, not per batch
        assert str(spool) in outage_warnings(caplog)[0]

        outage.recover()
        writer.submit(make_row(5))
        assert writer.flush(timeout=30)
        assert event_ids(writer.engine) == EV[:6]
        assert writer.stats()["written"] == 1
        assert writer.stats()["replayed"] == 5
        assert not spool.exists()
        assert list(tmp_path.glob("spool.*.replaying.jsonl")) == []
        assert writer.flush(timeout=30)
        assert writer.stats()["replayed"] == 5

        if outage.proxy is None:
            return  # an embedded database has no second outage to stage
        outage.fail()  # cuts the writer's pooled connection too
        writer.submit(make_row(6))
        writer.submit(make_row(7))
        assert writer.flush(timeout=30)
        assert writer.stats()["outages"] == 2
        assert len(outage_warnings(caplog)) == 2
        outage.recover()
        assert writer.flush(timeout=30)  # nothing new queued: flush alone replays
        assert event_ids(engine) == EV[:8]  # through the real port, too
        assert writer.stats()["replayed"] == 7
    finally:
        writer.close()
        writer.engine.dispose()
        if outage.proxy is not None:
            outage.proxy.stop()


def test_idle_writer_retries_the_spool(engine, tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(make_row(n)) + "\n" for n in range(3)))
    writer = Writer(engine, spool_path=spool, retry_interval=0.05)
    deadline = time.monotonic() + 30
    while spool.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.close()
    assert event_ids(engine) == EV[:3]
    assert writer.stats()["replayed"] == 3


def test_interrupted_replay_neither_loses_nor_duplicates(engine, tmp_path):
    spool = tmp_path / "spool.jsonl"
    writer = Writer(engine, spool_path=spool)
    writer.submit(make_row(1))
    writer.submit(make_row(2))
    writer.close()
    # A replay that crashed after inserting rows 1 and 2 left its whole file behind, the last
    # line torn by a crash mid-append; a newer spool holds row 5.
    torn = b'{"event_id":"ev00000000000000000000000000000'
    leftover = tmp_path / "spool.00000000000000000001-4242.replaying.jsonl"
    leftover.write_bytes(
        b"".join(json.dumps(make_row(n)).encode() + b"\n" for n in (1, 2, 3, 4)) + torn
    )
    spool.write_text(json.dumps(make_row(5)) + "\n")

    writer = Writer(engine, spool_path=spool)
    writer.submit(make_row(6))
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == EV[1:7]
    assert writer.stats()["replayed"] == 5  # 1 and 2 were sent again; the database kept one
    assert writer.stats()["rejected"] == 1
    # Set aside with its reason; the torn text is kept for a person to read.
    rejects = (tmp_path / "spool.rejected.jsonl").read_bytes().splitlines()
    [entry] = [json.loads(line) for line in rejects]
    assert entry["reason"] == "not a row"
    assert entry["line"].encode() == torn
    assert sorted(p.name for p in tmp_path.iterdir() if "spool" in p.name) == [
        "spool.lock",
        "spool.rejected.jsonl",
    ]


def test_append_after_a_torn_line_keeps_the_next_row(engine, tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.path.write_bytes(b'{"event_id": "torn')  # a crash mid-append, no newline
    spool.append(encode_rows([make_row(1)]))
    assert spool.path.read_bytes().splitlines()[0] == b'{"event_id": "torn'
    writer = Writer(engine, spool_path=spool.path)
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == EV[1:2]
    assert writer.stats()["rejected"] == 1


def test_a_refused_row_does_not_poison_its_batch(engine, tmp_path, caplog):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl")
    bad = make_row(2, usage_source=None)  # NOT NULL column: refused by every database
    for row in (make_row(1), bad, make_row(3)):
        writer.submit(row)
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == [EV[1], EV[3]]
    assert writer.stats()["written"] == 2
    assert writer.stats()["rejected"] == 1
    refused = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refused) == 1
    assert bad["event_id"] in refused[0].getMessage()
    rejects = (tmp_path / "spool.rejected.jsonl").read_text().splitlines()
    [entry] = [json.loads(line) for line in rejects]
    assert entry["row"] == bad
    assert "usage_source" in entry["reason"]  # the database's own words


@contextlib.contextmanager
def writes_blocked(engine):
    """Hold the ledger's write lock from another connection, as a long transaction would."""
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(engine.url.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("COMMIT")
            holder.close()
        return
    with engine.connect() as holder:
        if engine.dialect.name == "postgresql":
            holder.execute(text("LOCK TABLE llmledger_calls IN EXCLUSIVE MODE"))
            try:
                yield
            finally:
                holder.commit()
        else:
            holder.execute(text("LOCK TABLES llmledger_calls WRITE"))
            try:
                yield
            finally:
                holder.execute(text("UNLOCK TABLES"))


def test_full_queue_spools_instead_of_blocking(engine, tmp_path):
    spool = tmp_path / "spool.jsonl"
    writer = Writer(engine, spool_path=spool, batch_size=1, flush_interval=0, max_queue=2)
    try:
        with writes_blocked(engine):
            writer.submit(make_row(0))
            deadline = time.monotonic() + 10
            while writer.queued() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # the writer now waits on the lock with row 0
            started = time.monotonic()
            for n in range(1, 10):
                writer.submit(make_row(n))
            elapsed = time.monotonic() - started
            assert writer.queued() == 2  # rows 1 and 2
            assert writer.stats()["spooled"] == 7  # rows 3 to 9
            assert spool_lines(spool) == 7
            assert writer.stats()["written"] == 0
        assert elapsed < 1.0  # a blocking submit would have waited for the lock
        assert writer.flush(timeout=60)
        assert event_ids(engine) == EV[:10]
        assert writer.stats()["written"] == 3
        assert writer.stats()["replayed"] == 7
    finally:
        writer.close()


def test_close_writes_the_queue_and_later_rows_wait_in_the_spool(engine, tmp_path):
    spool = tmp_path / "not-yet" / "spool.jsonl"  # the folder is made when first needed
    writer = Writer(engine, spool_path=spool, flush_interval=60)  # only close() writes
    for n in range(3):
        writer.submit(make_row(n))
    writer.close()
    assert event_ids(engine) == EV[:3]
    writer.submit(make_row(3))
    assert writer.flush() is True
    assert spool_lines(spool) == 1
    later = Writer(engine, spool_path=spool)
    assert later.flush(timeout=30)
    later.close()
    assert event_ids(engine) == EV[:4]


def test_default_spool_path_sits_beside_sqlite_or_in_the_working_directory(tmp_path, monkeypatch):
    from llmledger.store.spool import default_spool_path

    monkeypatch.chdir(tmp_path)
    sqlite_engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'app.db'}")
    assert default_spool_path(sqlite_engine) == tmp_path / "data" / "llmledger-spool-app.db.jsonl"
    # A server database: a spool of its own in the working directory, named after it.
    server = default_spool_path(make_engine("postgresql+psycopg://u:secret@db.example:5432/x"))
    assert server.parent == tmp_path
    assert server.name.startswith("llmledger-spool-postgresql-db.example-x-")
    assert "secret" not in server.name
    same = "postgresql+psycopg2://u:other@db.example:5432/x"  # another driver and password
    assert default_spool_path(same) == server
    for other in (
        "postgresql+psycopg://u:secret@db.example:5432/y",
        "postgresql+psycopg://u:secret@db2.example:5432/x",
        "mysql+pymysql://u:secret@db.example:5432/x",
    ):
        assert default_spool_path(other) != server, other
    assert default_spool_path(make_engine("sqlite://")) == tmp_path / "llmledger-spool.jsonl"


def test_row_keys_are_the_calls_columns():
    from llmledger.store.schema import calls

    assert set(make_row(0)) == {c.name for c in calls.columns} - {"id"}
    assert set(BUCKETS) <= set(make_row(0))


def test_a_forked_child_writes_through_a_thread_of_its_own(engine, tmp_path):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl")
    writer.submit(make_row(1))
    assert writer.flush(timeout=30)  # the parent now holds a pooled connection
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        writer.submit(make_row(2))
        ok = writer.flush(timeout=30) and writer.stats()["written"] == 1
        writer.close()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    writer.submit(make_row(3))  # the parent's writer and connection still work
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == EV[1:4]


def test_zero_flush_interval_writes_each_row_without_spinning(engine, tmp_path):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl", flush_interval=0)
    time.sleep(0.3)  # idle: a spinning writer would retry the (empty) spool, taking its lock
    assert not (tmp_path / "spool.lock").exists()
    writer.submit(make_row(1))  # no flush: the row is written on its own
    deadline = time.monotonic() + 10
    while event_ids(engine) != EV[1:2] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert event_ids(engine) == EV[1:2]
    writer.close()


def test_rows_made_later_are_built_on_the_writer_thread_in_order(engine, tmp_path, caplog):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl", flush_interval=60)
    threads = []

    def later(n):
        def make():
            threads.append(threading.current_thread().name)
            return make_row(n)

        return make

    def broken():
        raise RuntimeError("a bug in a row maker")

    writer.submit(make_row(0))
    writer.submit_later(later(1))
    writer.submit_later(broken)  # counted and logged; the rows around it are written
    writer.submit_later(lambda: None)  # nothing to write
    writer.submit(make_row(2))
    assert writer.flush(timeout=30)
    assert event_ids(engine) == EV[:3]
    assert threads == ["llmledger-writer"]
    assert writer.stats()["errors"] == 1
    assert "could not build a row" in caplog.text
    writer.close()
    writer.submit_later(later(3))  # after close: built here, and spooled
    assert spool_lines(tmp_path / "spool.jsonl") == 1


def test_a_batch_larger_than_one_statement_is_written_whole(engine, tmp_path):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl", batch_size=20)
    if writer._sqlite is not None:  # SQLite sends several rows per statement, up to a cap
        writer._sqlite.rows_per_statement = 3
    for n in range(20):
        writer.submit(make_row(n))
    assert writer.flush(timeout=30)
    writer.close()
    assert event_ids(engine) == EV


def test_latency_keeps_double_precision(engine, tmp_path):
    from sqlalchemy import select

    from llmledger.store.schema import calls

    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl")
    writer.submit(make_row(0) | {"latency_ms": 1234.5678901234})
    assert writer.flush(timeout=30)
    writer.close()
    with engine.connect() as connection:
        assert connection.execute(select(calls.c.latency_ms)).scalar_one() == 1234.5678901234
