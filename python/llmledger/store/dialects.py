"""The one statement that differs between the ledger's databases: insert-or-ignore."""

from __future__ import annotations

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

__all__ = ["insert_ignoring_duplicates"]


def insert_ignoring_duplicates(dialect: Dialect, table: Table, key: str) -> Insert:
    """An INSERT that skips rows whose unique `key` is already present, on any dialect.

    SQLite and PostgreSQL: ``ON CONFLICT (key) DO NOTHING``. MySQL/MariaDB: ``ON DUPLICATE
    KEY UPDATE key = key``, a no-op update, rather than ``INSERT IGNORE``, which would also
    turn data errors (too long, NULL in NOT NULL) into warnings and store truncated rows.
    """
    if dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    if dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    statement = mysql.insert(table)
    return statement.on_duplicate_key_update({key: table.c[key]})
