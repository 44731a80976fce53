"""Packaged migrations create exactly the tables of `schema.py`, once, on every backend."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from llmledger.store import SchemaNotReadyError, ensure_schema, make_engine, totals, upgrade
from llmledger.store import derived as reaggregate_tables
from llmledger.store.engine import VERSION_TABLE, current_revision, head_revision
from llmledger.store.schema import metadata as ledger_metadata

# Every table the migrations create: the ledger's, the reaggregate job's (revision 0002) and
# the spend totals (0004), budget crossings (0005), pruned sums and horizon (0006), budget
# reservations (0007) and the daily rollup without its tags (0008).
metadata = MetaData()
for _tables in (ledger_metadata, reaggregate_tables.metadata, totals.metadata):
    for _table in _tables.tables.values():
        _table.to_metadata(metadata)


@pytest.fixture
def bare_engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def ledger_tables(engine) -> list[str]:
    return sorted(t for t in inspect(engine).get_table_names() if t.startswith("llmledger_"))


def test_upgrade_creates_exactly_the_schema(bare_engine):
    assert ledger_tables(bare_engine) == []
    upgrade(bare_engine)
    assert ledger_tables(bare_engine) == [
        "llmledger_alembic_version",
        "llmledger_backfill",
        "llmledger_budget_crossings",
        "llmledger_budget_reservations",
        "llmledger_calls",
        "llmledger_daily_models",
        "llmledger_daily_rollup",
        "llmledger_price_snapshots",
        "llmledger_prune_state",
        "llmledger_pruned_rollup",
        "llmledger_reaggregate_state",
        "llmledger_spend_totals",
        "llmledger_totals_state",
    ]
    with bare_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        # Columns, types, nullability, indexes and unique constraints all match the tables'
        # definitions (schema.py, store/derived.py, store/totals.py).
        assert compare_metadata(context, metadata) == []
    assert current_revision(bare_engine) == head_revision() == "0008"
    if bare_engine.dialect.name == "mysql":
        assert mysql_collations(bare_engine) == {
            "llmledger_calls": "utf8mb4_bin",
            "llmledger_price_snapshots": "utf8mb4_bin",
        }


def mysql_collations(engine) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT table_name, table_collation FROM information_schema.tables"
                " WHERE table_schema = DATABASE()"
                " AND table_name IN ('llmledger_calls', 'llmledger_price_snapshots')"
            )
        )
        return {name: collation for name, collation in rows}


def test_upgrade_is_idempotent_and_keeps_data(bare_engine):
    upgrade(bare_engine)
    with bare_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO llmledger_price_snapshots (id, created_at_us, source, content)"
                " VALUES ('s', 1, 'test', :content)"
            ),
            {"content": b"\x00\x01"},
        )
    upgrade(bare_engine)
    ensure_schema(bare_engine)
    with bare_engine.connect() as connection:
        versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        contents = connection.execute(text("SELECT content FROM llmledger_price_snapshots"))
        assert [tuple(v) for v in versions] == [("0008",)]
        assert [bytes(c) for (c,) in contents] == [b"\x00\x01"]


def test_host_apps_own_alembic_table_is_left_alone(bare_engine):
    with bare_engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('host_app_head')"))
    upgrade(bare_engine)
    with bare_engine.connect() as connection:
        host = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [tuple(v) for v in host] == [("host_app_head",)]


def test_ensure_schema_creates_sqlite_and_asks_servers_for_db_upgrade(bare_engine):
    if bare_engine.dialect.name == "sqlite":
        ensure_schema(bare_engine)
        assert current_revision(bare_engine) == head_revision()
        return
    with pytest.raises(SchemaNotReadyError, match=r"run `llmledger db upgrade`") as raised:
        ensure_schema(bare_engine)
    assert "has no ledger tables" in str(raised.value)
    assert ledger_tables(bare_engine) == []
    upgrade(bare_engine)
    ensure_schema(bare_engine)


def test_app_workers_creating_a_new_sqlite_file_together(tmp_path):
    # Web server workers start at once and each ensures the schema of the same new file.
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    script = (
        "import sys; from llmledger.store import ensure_schema, make_engine;"
        " ensure_schema(make_engine(sys.argv[1]))"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [worker.communicate(timeout=120)[1].decode() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], errors
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_threads_migrating_at_once(tmp_path):
    # Alembic's module-level context is shared by threads: migrations must take turns.
    urls = [f"sqlite:///{tmp_path / f'ledger{n}.db'}" for n in range(4)]
    engines = [make_engine(url) for url in urls]
    errors: list[BaseException] = []

    def migrate(engine) -> None:
        try:
            ensure_schema(engine)
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [current_revision(engine) for engine in engines] == [head_revision()] * 4
    for engine in engines:
        engine.dispose()


def test_make_engine_defaults_and_url_settings(tmp_path):
    file_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(file_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()
    engine = make_engine(file_url + "?timeout=2")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2_000  # URL wins
    engine.dispose()
    assert make_engine(engine) is engine  # the host's own Engine, untouched
