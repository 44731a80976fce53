"""Engines and schema migrations for the ledger's database.

Migrations ship inside the package and run through Alembic's API, so users need no
alembic.ini. Alembic keeps its revision in `llmledger_alembic_version`, never in the host
application's own `alembic_version` table.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from .schema import metadata
from .urls import ledger_url

__all__ = [
    "VERSION_TABLE",
    "SchemaNotReadyError",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "upgrade",
]

VERSION_TABLE = "llmledger_alembic_version"
_MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic runs a migration through module-level proxies (`alembic.context`, `alembic.op`), so
# two threads migrating at once would swap each other's connections: one at a time.
_ALEMBIC_LOCK = threading.Lock()

# Seconds a SQLite writer waits for another writer's lock before giving up; the recorder
# writes from a background thread, so waiting is cheap and failing would spool the batch.
SQLITE_BUSY_TIMEOUT = 30
# Seconds to wait for a server's TCP connect: a black-holed host must not hang the writer
# for the OS default (minutes) before its rows go to the spool.
CONNECT_TIMEOUT = 10


class SchemaNotReadyError(RuntimeError):
    """The database lacks the ledger's tables, or has them at an older revision."""


def make_engine(url_or_engine: str | URL | Engine) -> Engine:
    """An Engine for the ledger from a database URL, or the given Engine unchanged.

    URLs use SQLAlchemy's syntax: ``sqlite:///llmledger.db``, ``postgresql+psycopg://...``,
    ``mysql+pymysql://...``. A SQLite file database is put in WAL mode (readers never block
    the writer) with a busy timeout of 30 s; an in-memory SQLite database is shared by all
    threads (one connection), so the background writer sees the same data. Server databases
    get a pre-ping on checkout (a connection dropped during an outage is replaced, not
    reused) and a 10 s connect timeout. Either timeout set in the URL's query (``?timeout=``,
    ``?connect_timeout=``) wins. An Engine passed in belongs to the host application and is
    returned as it is.
    """
    if isinstance(url_or_engine, Engine):
        return url_or_engine
    url = ledger_url(url_or_engine)  # a bare path, postgres://, mysql://: see store.urls
    if url.get_backend_name() != "sqlite":
        timeout = _unless_in_url(url, connect_timeout=CONNECT_TIMEOUT)
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
    if url.database in (None, "", ":memory:"):
        return create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    engine = create_engine(url, connect_args=_unless_in_url(url, timeout=SQLITE_BUSY_TIMEOUT))
    event.listen(engine, "connect", _sqlite_wal)
    return engine


def _unless_in_url(url: URL, **defaults: int) -> dict[str, int]:
    # connect_args override the URL's query, and a setting in the URL is the user's choice.
    return {key: value for key, value in defaults.items() if key not in url.query}


def _sqlite_wal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = metadata
    config.attributes["version_table"] = VERSION_TABLE
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this package."""
    return cast(str, ScriptDirectory.from_config(_config(None)).get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when the ledger was never migrated there."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the ledger's tables to `revision` (Alembic ``upgrade head``); idempotent.

    This is what ``llmledger db upgrade`` runs. Only the ledger's own tables and its version
    table are touched.
    """
    with _ALEMBIC_LOCK, engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            # Take SQLite's write lock before Alembic reads its version: workers of one app
            # starting together on a new file then migrate one after the other (each waits
            # out the busy timeout), and the later ones find the schema at head.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(_config(connection), revision)


def ensure_schema(engine: Engine) -> None:
    """Make sure the ledger's tables exist at the package's revision before recording.

    SQLite is the embedded default, so its schema is created (or migrated) automatically.
    PostgreSQL and MySQL/MariaDB belong to an operator who decides when DDL runs: a missing
    or outdated schema raises `SchemaNotReadyError` naming ``llmledger db upgrade``.
    """
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    current = current_revision(engine)
    if current != head_revision():
        raise _not_ready(engine, current)


def require_ledger(engine: Engine) -> None:
    """Before reading the ledger: `ensure_schema`, except that a database without the ledger's
    tables is a `SchemaNotReadyError` on SQLite too. Created there, they would turn a report
    on a mistyped file name into a report of an empty ledger."""
    current = current_revision(engine)
    if current is None:
        raise _not_ready(engine, None)
    if current != head_revision():
        ensure_schema(engine)  # migrates SQLite, raises elsewhere


def _not_ready(engine: Engine, current: str | None) -> SchemaNotReadyError:
    found = "no ledger tables" if current is None else f"ledger schema revision {current}"
    return SchemaNotReadyError(
        f"{engine.url.render_as_string(hide_password=True)} has {found}, this llmledger "
        f"needs revision {head_revision()}: run `llmledger db upgrade` with this database URL "
        "(or llmledger.store.upgrade(engine)) once, as a user allowed to create tables."
    )
