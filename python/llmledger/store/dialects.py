"""The one statement that differs between the ledger's databases: insert-or-ignore, and the
same saying which rows it inserted (for the spend totals, which count each row once)."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Float, Insert, Table
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from .json_text import JsonText, as_json_text

__all__ = [
    "PostgresUnnestInsert",
    "SqliteBulkInsert",
    "ignored_only_duplicates",
    "insert_ignoring_duplicates",
    "insert_returning_new",
]


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


def insert_returning_new(dialect: Dialect, table: Table, key: str) -> Insert:
    """`insert_ignoring_duplicates` that returns the `key` of each row it inserted, and of
    no row it skipped, on PostgreSQL and MariaDB 10.5+ (SQLite: `SqliteBulkInsert`).

    PostgreSQL (the writer sends it as `PostgresUnnestInsert`): ``ON CONFLICT DO NOTHING
    RETURNING key`` returns only inserted rows; a row another transaction is inserting with
    the same key waits for it, then is skipped or inserted. MariaDB's ``ON DUPLICATE KEY
    UPDATE ... RETURNING`` returns the duplicates too, so there it is ``INSERT IGNORE ...
    RETURNING``, which returns inserted rows only; as IGNORE also turns a row's data errors
    into warnings (a string cut, a NULL defaulted), the caller checks that every warning was
    a duplicate (`ignored_only_duplicates`).
    """
    if dialect.name == "mysql":
        return mysql.insert(table).prefix_with("IGNORE").returning(table.c[key])
    return insert_ignoring_duplicates(dialect, table, key).returning(table.c[key])


def ignored_only_duplicates(connection: Any, rows: int, inserted: int) -> bool:
    """After an ``INSERT IGNORE`` of `rows` rows that inserted `inserted`: whether its only
    warnings were the skipped duplicates, one each, so that no row was stored altered. (Both
    are diagnostic statements, which leave the insert's warnings in place.)"""
    count = connection.exec_driver_sql("SHOW COUNT(*) WARNINGS").scalar_one()
    if count != rows - inserted:
        return False
    if not count:
        return True
    # Past max_error_count (64 by default) not every warning is listed: unverifiable.
    codes = [code for _level, code, _message in connection.exec_driver_sql("SHOW WARNINGS")]
    return len(codes) == count and all(code == _MYSQL_DUPLICATE for code in codes)


_MYSQL_DUPLICATE = 1062


class SqliteBulkInsert:
    """The same insert-or-ignore for SQLite, sent straight to the driver, many rows a statement.

    SQLAlchemy's per-row parameter processing cost the writer thread about as much again as
    SQLite's own insert; that thread shares the GIL with the app, so on the embedded default
    the ledger's rows skip it. And one multi-row ``VALUES`` per batch, not `executemany`:
    the driver lets go of the GIL around each statement it steps, and taking it back from a
    busy app thread is a hand-over each time, so one statement per batch, not one per row.
    JSON columns are serialised as SQLAlchemy's JSON type would (`null` for None), once per
    distinct object in a batch: the calls of one tag scope share their tags dict. A `str` is
    JSON text already (`JsonText`: the provider's raw usage) and is stored as it is.

    With `returning`, each statement returns the `key` of the rows it inserted (SQLite 3.35+;
    a row skipped by ``ON CONFLICT DO NOTHING`` is not returned).
    """

    def __init__(self, table: Table, key: str, returning: bool = False) -> None:
        columns = [c for c in table.columns if not (c.primary_key and c.autoincrement)]
        names = [c.name for c in columns]
        self._head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
        self._tail = f" ON CONFLICT ({key}) DO NOTHING" + (f" RETURNING {key}" if returning else "")
        self._row = f"({', '.join('?' * len(names))})"
        # SQLite's default cap on parameters per statement: 32766 since 3.32, 999 before.
        cap = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
        self.rows_per_statement = cap // len(names)
        self._values = operator.itemgetter(*names)
        self._json = [i for i, c in enumerate(columns) if isinstance(c.type, JSON | JsonText)]

    def statements(self, rows: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
        """(SQL, flat parameters) for each statement that inserts `rows`, in order."""
        per = self.rows_per_statement
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            sql = self._head + ", ".join([self._row] * len(chunk)) + self._tail
            yield sql, self._params(chunk)

    def _params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        memo: dict[int, str] = {}  # rows keep their objects alive, so ids stay unique
        out: list[Any] = []
        for row in rows:
            values = list(self._values(row))
            for i in self._json:
                value = values[i]
                text = memo.get(id(value))
                if text is None:
                    text = memo[id(value)] = as_json_text(value)
                values[i] = text
            out += values
        return out


class PostgresUnnestInsert:
    """An INSERT for PostgreSQL as one short statement: a batch's values go as one array per
    column, ``INSERT ... SELECT * FROM unnest(%(c)s::type[], ...)`` then `tail` (the
    ``ON CONFLICT`` clause, a RETURNING). Rows are inserted in the order they are given.

    The same statement with RETURNING through SQLAlchemy is one ``VALUES`` list of 500 rows
    and 18,500 named parameters, which psycopg re-parses on every batch (too long for its
    query cache): 0.3 s a batch, eight times the insert without RETURNING. Arrays keep the
    statement short and the insert one round trip. JSON columns go as JSON text, as
    `SqliteBulkInsert` sends them, cast to JSONB by the server.
    """

    def __init__(self, table: Table, dialect: Dialect, tail: str) -> None:
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        self._names = [c.name for c in columns]
        self._json = {c.name for c in columns if isinstance(c.type, JSON | JsonText)}
        # psycopg refuses a list mixing int and float (a spooled 812 beside 812.5).
        self._floats = {c.name for c in columns if isinstance(c.type, Float)}
        # Arrays of the unsized types: an explicit cast to VARCHAR(n) would cut a value that
        # is too long, where the insert's own (assignment) cast refuses it, as it must.
        sql_types = [
            "JSONB" if c.name in self._json else c.type.compile(dialect).split("(")[0]
            for c in columns
        ]
        arrays = ", ".join(f"%({c.name})s::{t}[]" for c, t in zip(columns, sql_types, strict=True))
        names = ", ".join(self._names)
        self.sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) {tail}"

    def params(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """One list per column, in the rows' order."""
        out = {name: [row[name] for row in rows] for name in self._names}
        for name in self._json:
            out[name] = [as_json_text(value) for value in out[name]]
        for name in self._floats:
            out[name] = [None if value is None else float(value) for value in out[name]]
        return out
