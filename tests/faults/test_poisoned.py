"""Poisoned rows and poisoned spools: one bad row is set aside alone, with its reason, and
nothing a row holds can stop the writer, the app's start, a flush or a read."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from ledger_rows import event_ids, make_row
from outage import Outage

import llmledger
from llmledger.store import Writer, make_engine, upgrade
from llmledger.store.spool import Spool

# Each value the database (or its driver) cannot store, and the backends that store it anyway.
POISONS = {
    # OverflowError on SQLite, "bigint out of range" on PostgreSQL, 1264 on MariaDB.
    "int past 64 bits": ({"input_tokens": 2**64}, set()),
    # UnicodeEncodeError in every driver: a filename decoded with surrogateescape.
    "lone surrogate in a column": ({"model": "gpt-\udc80"}, set()),
    # Escaped in the JSON text: SQLite keeps it; PostgreSQL refuses it (22P02), MariaDB's
    # JSON CHECK too (4025, an OperationalError).
    "lone surrogate in a tag": ({"tags": {"file": "r\udc80port.pdf"}}, {"sqlite"}),
    # Not a value any driver can send, nor JSON: set aside without ever reaching the spool.
    "an object": ({"latency_ms": object()}, set()),
}


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def rejected_entries(spool: Spool) -> list[dict]:
    if not spool.rejects_path.exists():
        return []
    return [json.loads(line) for line in spool.rejects_path.read_bytes().splitlines()]


@pytest.mark.parametrize("poison", list(POISONS))
def test_a_poisoned_row_is_set_aside_alone(engine, tmp_path, poison, caplog):
    values, stored_by = POISONS[poison]
    spool = Spool(tmp_path / "spool.jsonl")
    writer = Writer(engine, spool_path=spool.path)
    bad = make_row(2, **values)
    for row in (make_row(0), make_row(1), bad, make_row(3), make_row(4)):
        writer.submit(row)
    assert writer.flush(timeout=30)
    writer.submit(make_row(5))  # the writer lives on
    assert writer.flush(timeout=30)
    writer.close()
    valid = [make_row(n)["event_id"] for n in (0, 1, 3, 4, 5)]
    if engine.dialect.name in stored_by:
        assert event_ids(engine) == sorted([*valid, bad["event_id"]])
        assert rejected_entries(spool) == []
        return
    assert event_ids(engine) == valid  # 4 of 5 in the batch, the 5th later
    [entry] = rejected_entries(spool)
    assert entry["row"]["event_id"] == bad["event_id"]
    assert entry["reason"]  # the database's or the driver's own words
    assert bad["event_id"] in caplog.text
    assert writer.stats()["rejected"] == 1 and writer.stats()["lost"] == 0


def test_poisoned_rows_through_an_outage_lose_only_themselves(database_url, engine, tmp_path):
    # PostgreSQL once lost 50 of 50 spooled rows to one lone surrogate, MariaDB 4 valid of 5.
    outage = Outage(database_url, tmp_path)
    spool = Spool(tmp_path / "spool.jsonl")
    writer = Writer(make_engine(outage.url), spool_path=spool.path, retry_interval=3600)
    try:
        bad = {2: make_row(2, model="gpt-\udc80"), 5: make_row(5, input_tokens=2**64)}
        for n in range(10):
            writer.submit(bad.get(n) or make_row(n))
        assert writer.flush(timeout=30)
        assert spool.waiting() == 10  # all kept, the bad rows too: JSON holds them
        outage.recover()
        assert writer.flush(timeout=30)
        stored = event_ids(writer.engine)
        assert stored == sorted(make_row(n)["event_id"] for n in range(10) if n not in bad)
        rejected = sorted(entry["row"]["event_id"] for entry in rejected_entries(spool))
        assert rejected == sorted(row["event_id"] for row in bad.values())
        assert rejected_entries(spool)[0]["row"]["model"] in ("gpt-\udc80", "gpt-4o")
        assert spool.waiting() == 0
    finally:
        writer.close()
        writer.engine.dispose()
        if outage.proxy is not None:
            outage.proxy.stop()


def test_a_poisoned_spool_cannot_stop_the_app(database_url, engine, tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    missing_column = make_row(4)
    del missing_column["model"]
    spool.path.write_bytes(
        b"garbage\n"
        + b"[1, 2]\n"
        + json.dumps(make_row(1, input_tokens=2**64)).encode()
        + b"\n"
        + json.dumps(make_row(2, model="gpt-\udc80")).encode()  # escaped: valid JSON
        + b"\n"
        + json.dumps(missing_column).encode()
        + b"\n"
        + b"".join(json.dumps(make_row(n)).encode() + b"\n" for n in (5, 6, 7))
        + b'{"event_id": "ev0000'  # torn by a crash mid-append
    )
    llmledger.configure(database_url, spool_path=spool.path)  # starts
    try:
        call = llmledger.track("openai", "gpt-4o", input_tokens=9)
        assert llmledger.flush(timeout=30)
        stored = event_ids(engine)
        assert stored == sorted([call.event_id, *(make_row(n)["event_id"] for n in (5, 6, 7))])
        entries = rejected_entries(spool)
        rows = sorted(e["row"]["event_id"] for e in entries if "row" in e)
        assert rows == [make_row(n)["event_id"] for n in (1, 2, 4)]
        lines = sorted(e["line"] for e in entries if "line" in e)
        assert lines == ["[1, 2]", "garbage", '{"event_id": "ev0000']
        assert spool.waiting() == 0
        assert llmledger.config.state().writer.stats()["lost"] == 0
    finally:
        llmledger.shutdown()


# The test ends the writer thread on purpose, with what only a thread's end reports.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_writer_thread_never_hangs_flush_close_or_calls(tmp_path, caplog):
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", spool_path=tmp_path / "s.jsonl")
    try:
        writer = llmledger.config.state().writer
        thread = writer._thread

        def end_the_thread():
            raise SystemExit  # what no `except Exception` catches: the thread ends

        in_hand = llmledger.track("openai", "gpt-4o", input_tokens=1)  # same batch
        writer.submit_later(end_the_thread)
        thread.join(timeout=10)
        assert not thread.is_alive()
        first = llmledger.track("openai", "gpt-4o", input_tokens=2)
        assert llmledger.flush(timeout=10)  # starts a new writer thread, then writes
        assert "the writer thread had stopped" in caplog.text
        # The row in hand when the thread ended went to the spool, and from there in.
        assert sorted(llmledger.calls()["event_id"]) == sorted([in_hand.event_id, first.event_id])

        writer.submit_later(end_the_thread)
        writer._thread.join(timeout=10)
        second = llmledger.track("openai", "gpt-4o", input_tokens=3)
    finally:
        llmledger.shutdown()  # close(): the queue is written, no marker is called as a row
    assert "not callable" not in caplog.text
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert event_ids(engine) == sorted([in_hand.event_id, first.event_id, second.event_id])
    engine.dispose()


def test_flush_is_false_when_rows_could_be_kept_nowhere(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="llmledger")
    outage = Outage(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)  # the database is down
    nowhere = tmp_path / "a-folder"
    nowhere.mkdir()  # the spool path is a folder: appending to it fails
    writer = Writer(make_engine(outage.url), spool_path=nowhere, retry_interval=3600)
    writer.submit(make_row(1))
    assert writer.flush(timeout=30) is False
    assert writer.stats()["lost"] == 1
    assert make_row(1)["event_id"] in caplog.text  # the lost call is named
    writer.close()
    assert threading.active_count() >= 1
