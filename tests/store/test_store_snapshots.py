"""Price snapshots are stored once per content id, even when two writers race."""

from __future__ import annotations

import threading
import zlib

from sqlalchemy import func, select

import llmledger
from llmledger.store import load_snapshot, save_snapshot
from llmledger.store.schema import calls, price_snapshots

CONTENT = zlib.compress(b'{"models": [], "note": "\xc3\xa9"}' * 100)
SNAPSHOT_ID = "f" * 64


def snapshot_rows(engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(price_snapshots)
        return connection.execute(query).scalar_one()


def test_stored_once_and_loaded_back_exactly(engine):
    for _ in range(3):
        with engine.begin() as connection:
            save_snapshot(connection, SNAPSHOT_ID, "genai-prices 0.2.3", CONTENT)
    with engine.connect() as connection:
        assert load_snapshot(connection, SNAPSHOT_ID) == CONTENT
        assert load_snapshot(connection, "0" * 64) is None
        source = connection.execute(select(price_snapshots.c.source)).scalar_one()
    assert source == "genai-prices 0.2.3"
    assert snapshot_rows(engine) == 1


def test_concurrent_insert_of_the_same_id_is_not_an_error(engine):
    # The first transaction holds its uncommitted row while a second one inserts the same id:
    # the second waits for the first, then skips the row instead of failing.
    errors: list[BaseException] = []
    first = engine.connect()
    first.begin()
    save_snapshot(first, SNAPSHOT_ID, "first", CONTENT)

    def second() -> None:
        try:
            with engine.begin() as connection:
                save_snapshot(connection, SNAPSHOT_ID, "second", b"other")
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)  # give it time to block on the first transaction's row
    first.commit()
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    assert errors == []
    assert snapshot_rows(engine) == 1
    with engine.connect() as connection:
        assert load_snapshot(connection, SNAPSHOT_ID) == CONTENT


def test_rows_spooled_before_the_database_answered_keep_their_snapshot(
    engine, database_url, tmp_path
):
    # One app never reaches its database and spools a call priced under its own overrides;
    # another, with the catalog's prices alone, replays that spool: the call's price
    # snapshot must be in the database with it, or its rule could never be explained.
    spool = tmp_path / "spool.jsonl"
    down = f"sqlite:///{tmp_path / 'no-such-folder' / 'ledger.db'}"
    overrides = {"models": [{"provider": "openai", "model": "house", "prices": {"input_mtok": 1}}]}
    llmledger.configure(down, price_overrides=overrides, spool_path=spool)
    call = llmledger.track("openai", "house", input_tokens=1_000_000)
    first = llmledger.config.state().pricer
    llmledger.shutdown()
    assert len(list(tmp_path.glob("spool.snapshot.*.json"))) == 1

    llmledger.configure(database_url, spool_path=spool)
    assert llmledger.config.state().pricer.snapshot_id != first.snapshot_id
    assert llmledger.flush() is True
    llmledger.shutdown()
    with engine.connect() as connection:
        stored = connection.execute(
            select(calls.c.price_snapshot_id, calls.c.cost).where(calls.c.event_id == call.event_id)
        ).one()
        assert stored == (first.snapshot_id, 10**12)  # 1 USD
        assert load_snapshot(connection, first.snapshot_id) == first.snapshot_content
    assert [p.name for p in tmp_path.glob("spool*")] == ["spool.lock"]  # the snapshot file went
