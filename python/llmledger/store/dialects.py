"""The one statement that differs between the ledger's databases: insert-or-ignore."""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Insert, Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

__all__ = ["SqliteBulkInsert", "insert_ignoring_duplicates"]


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


class SqliteBulkInsert:
    """The same insert-or-ignore for SQLite, sent straight to the driver as positional tuples.

    SQLAlchemy's per-row parameter processing cost the writer thread about as much again as
    SQLite's own insert; that thread shares the GIL with the app, so on the embedded default
    the ledger's rows skip it. JSON columns are serialised as SQLAlchemy's JSON type would
    (`null` for None), once per distinct object in a batch: the calls of one tag scope share
    their tags dict.
    """

    def __init__(self, table: Table, key: str) -> None:
        columns = [c for c in table.columns if not (c.primary_key and c.autoincrement)]
        names = [c.name for c in columns]
        self.sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))}) ON CONFLICT ({key}) DO NOTHING"
        )
        self._values = operator.itemgetter(*names)
        self._json = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """One tuple per row, in column order."""
        memo: dict[int, str] = {}  # rows keep their objects alive, so ids stay unique
        out = []
        for row in rows:
            values = list(self._values(row))
            for i in self._json:
                value = values[i]
                text = memo.get(id(value))
                if text is None:
                    text = memo[id(value)] = json.dumps(value)
                values[i] = text
            out.append(tuple(values))
        return out
