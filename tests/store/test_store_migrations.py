"""Packaged migrations create exactly the tables of `schema.py`, once, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from llmledger.reaggregate import tables as reaggregate_tables
from llmledger.store import SchemaNotReadyError, ensure_schema, make_engine, upgrade
from llmledger.store.engine import VERSION_TABLE, current_revision, head_revision
from llmledger.store.schema import metadata as ledger_metadata

# Every table the migrations create: the ledger's, and the reaggregate job's (revision 0002).
metadata = MetaData()
for _table in (*ledger_metadata.tables.values(), *reaggregate_tables.metadata.tables.values()):
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
        "llmledger_calls",
        "llmledger_daily_rollup",
        "llmledger_price_snapshots",
        "llmledger_reaggregate_state",
    ]
    with bare_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        # Columns, types, nullability, indexes and unique constraints all match the tables'
        # definitions (schema.py, reaggregate/tables.py).
        assert compare_metadata(context, metadata) == []
    assert current_revision(bare_engine) == head_revision() == "0002"


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
        assert [tuple(v) for v in versions] == [("0002",)]
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


@pytest.mark.mysql
def test_mysql_tables_are_utf8mb4_binary(database_url):
    if not database_url.startswith("mysql"):
        pytest.skip("MySQL table options")
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        collations = connection.execute(
            text(
                "SELECT table_name, table_collation FROM information_schema.tables"
                " WHERE table_schema = DATABASE()"
                " AND table_name IN ('llmledger_calls', 'llmledger_price_snapshots')"
                " ORDER BY table_name"
            )
        ).all()
    engine.dispose()
    assert [tuple(c) for c in collations] == [
        ("llmledger_calls", "utf8mb4_bin"),
        ("llmledger_price_snapshots", "utf8mb4_bin"),
    ]
