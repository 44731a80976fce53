"""A real PostgreSQL server that crashes mid-load, or is down when the app starts."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

import llmledger
from llmledger.store import SchemaNotReadyError, make_engine
from llmledger.store.spool import Spool, default_spool_path

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def stored(url: str, event_ids: list[str]) -> Counter[str]:
    """How many times each of `event_ids` is in the ledger at `url`."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT event_id FROM llmledger_calls WHERE event_id = ANY(:ids)"),
                {"ids": event_ids},
            ).scalars()
            return Counter(found)
    finally:
        engine.dispose()


def snapshots(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT id FROM llmledger_price_snapshots")).scalars())
    finally:
        engine.dispose()


def test_server_crash_mid_load_keeps_every_accepted_call_once(running, tmp_path, unconfigured):
    spool = tmp_path / "spool.jsonl"
    llmledger.configure(running.url, spool_path=spool)
    accepted = []
    for i in range(600):
        if i == 200:
            running.stop()  # cuts the writer's connection, maybe mid-insert
        if i == 400:
            running.start()  # crash recovery
        call = llmledger.track("openai", "gpt-4o-mini", input_tokens=i + 1, output_tokens=1)
        accepted.append(call.event_id)
        time.sleep(0.002)  # ~2 s of load, a few hundred batches
    assert llmledger.flush(timeout=60)  # a flush replays the spool
    writer = llmledger.config.state().writer
    assert stored(running.url, accepted) == Counter(accepted)  # each exactly once
    assert writer.stats()["rejected"] == 0
    assert writer.stats()["outages"] >= 1
    assert writer.stats()["spooled"] > 0  # the crash did hit the load
    assert Spool(spool).waiting() == 0


def test_server_down_at_start_spools_then_writes(running, tmp_path, monkeypatch, unconfigured):
    running.stop()
    monkeypatch.chdir(tmp_path)  # the default spool, named after the database, sits here
    monkeypatch.setenv("LLMLEDGER_DATABASE_URL", running.url)
    # Only the environment variable: the first track() configures, and must not raise.
    calls = [llmledger.track("openai", "gpt-4o", input_tokens=i + 1) for i in range(20)]
    assert llmledger.flush(timeout=30)  # True: every call is kept in the spool
    spool = Spool(default_spool_path(running.url))
    assert spool.path.parent == tmp_path
    assert spool.waiting() == 20
    assert llmledger.config.state().writer.stats()["lost"] == 0

    running.start()
    assert llmledger.flush(timeout=30)
    ids = [call.event_id for call in calls]
    assert stored(running.url, ids) == Counter(ids)
    assert spool.waiting() == 0 and spool.rejected() == 0
    # The price snapshot is stored once the database answers.
    assert calls[0].price_rule.snapshot_id in snapshots(running.url)


def test_configure_with_the_server_down_does_not_raise(running, tmp_path, unconfigured, caplog):
    running.stop()
    llmledger.configure(running.url, spool_path=tmp_path / "spool.jsonl")
    assert "unavailable at start" in caplog.text
    call = llmledger.track("anthropic", "claude-sonnet-4-5", input_tokens=3, output_tokens=4)
    assert llmledger.flush(timeout=30)
    running.start()
    assert llmledger.flush(timeout=30)
    assert stored(running.url, [call.event_id]) == Counter([call.event_id])


def test_a_server_without_the_ledger_still_refuses_at_configure(running, unconfigured):
    admin = sa.create_engine(running.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS bare"))
        conn.execute(sa.text("CREATE DATABASE bare"))
    admin.dispose()
    with pytest.raises(SchemaNotReadyError, match="llmledger db upgrade"):
        llmledger.configure(sa.make_url(running.url).set(database="bare"))


def test_instrumented_calls_with_the_server_down_at_start_land_later(
    running, tmp_path, monkeypatch, unconfigured
):
    # Once lost: the first instrumented call configured the ledger, which raised inside
    # capture, and flush() still said True.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider
    from fakeprovider import FakeProvider, reply
    from fakeprovider.clients import make_client

    running.stop()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMLEDGER_DATABASE_URL", running.url)
    fake = FakeProvider().start()
    try:
        fake.serve(reply("openai_chat.json"))
        with llmledger.instrument(make_client("openai", fake.url)) as client:
            for _ in range(3):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        fake.stop()
    assert llmledger.flush(timeout=30)
    spool = Spool(default_spool_path(running.url))
    assert spool.waiting() == 3
    running.start()
    assert llmledger.flush(timeout=30)
    assert spool.waiting() == 0
    engine = make_engine(running.url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT model, cost FROM llmledger_calls WHERE provider_response_id = :id"),
            {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"},
        ).all()
    engine.dispose()
    # Three calls, each once, priced as their fixture says (see tests/capture/capture_cases).
    assert rows == [("gpt-4o-mini-2024-07-18", 336_900_000)] * 3
