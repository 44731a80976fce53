"""Inserting ledger rows so that one bad row never costs the others their place.

Rows go in batches, one statement each. When a batch fails, `failures.classify` reads the
error: a database that cannot be used now keeps the batch (and every row after it) for
later; otherwise the batch is sent again row by row, so only the row the database refuses is
set aside, and a row failing for a reason nobody can name waits for a later try while the
rows around it are written.

With a `TotalsSpec`, each statement also adds the rows it actually inserted to the spend
totals, in the same transaction: a row skipped as a duplicate `event_id` (a replayed spool, a
row sent again, another process's copy) or refused never counts, and a batch sent again row
by row counts each row once, as the failed batch's transaction added nothing. With
`release`, that transaction also drops the budget reservations of the rows in the batch
(`store.reservations`), once their cost is in the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from .dialects import (
    PostgresUnnestInsert,
    SqliteBulkInsert,
    ignored_only_duplicates,
    insert_ignoring_duplicates,
    insert_returning_new,
)
from .failures import Failure, classify, describe
from .reservations import release as release_reservations
from .schema import calls
from .totals import Calendar, TotalsSpec, tally
from .totals_sql import add_totals

__all__ = ["AlteredByIgnore", "Inserted", "Inserter", "TotalsFailed"]

Row = dict[str, Any]


@dataclass
class Inserted:
    """What became of the rows of one `Inserter.insert` call."""

    written: int = 0  # rows the database has (a duplicate event_id is kept once)
    kept: list[Row] = field(default_factory=list)  # to try again later
    refused: list[tuple[Row, BaseException]] = field(default_factory=list)  # set aside
    unexplained: list[tuple[Row, BaseException]] = field(default_factory=list)  # also kept
    failed_statements: int = 0
    # Set when the database could not be used: every row from there on is in `kept`.
    unavailable: BaseException | None = None


class TotalsFailed(Exception):
    """Adding inserted rows to the spend totals failed for a reason that is not an outage.
    The rows are not at fault: they wait (UNEXPLAINED) rather than being set aside."""


class AlteredByIgnore(Exception):
    """MariaDB's INSERT IGNORE would have stored a row altered (a string cut, a NULL
    defaulted), and the strict insert accepted it too: the row waits (UNEXPLAINED)."""


class Inserter:
    """Insert-or-ignore of ledger rows (keyed by `event_id`) into `engine`, in batches of
    `batch_size`, isolating the rows that fail; with `totals`, keeping its spend totals (and
    with `release`, releasing the budget reservations of the rows written)."""

    def __init__(
        self,
        engine: Engine,
        batch_size: int,
        totals: TotalsSpec | None = None,
        release: bool = False,
    ) -> None:
        self.engine = engine
        self.release = release
        self.batch_size = batch_size
        self._calendar = None if totals is None else Calendar(totals)
        self._statement = insert_ignoring_duplicates(engine.dialect, calls, "event_id")
        self._returning = insert_returning_new(engine.dialect, calls, "event_id")
        postgres = engine.dialect.name == "postgresql"
        self._unnest = (
            PostgresUnnestInsert(
                calls, engine.dialect, "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            )
            if postgres
            else None
        )
        sqlite = engine.dialect.name == "sqlite"
        returning = totals is not None
        self.sqlite = SqliteBulkInsert(calls, "event_id", returning) if sqlite else None

    def insert(self, rows: Sequence[Row]) -> Inserted:
        """Insert `rows`; never raises for a row or for the database (see `Inserted`)."""
        result = Inserted()
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            if result.unavailable is not None:
                result.kept.extend(batch)
            else:
                self._insert_batch(batch, result)
        return result

    def _insert_batch(self, batch: Sequence[Row], result: Inserted) -> None:
        try:
            self._execute(batch)
        # Whatever the driver raises, for the database or for a value of one row
        # (OverflowError, UnicodeEncodeError...): classify() sorts it out.
        except Exception as exc:
            result.failed_statements += 1
            if len(batch) == 1:
                self._sort(batch[0], exc, result)
            elif classify(exc) is Failure.UNAVAILABLE:
                result.unavailable = exc
                result.kept.extend(batch)
            else:
                self._one_by_one(batch, result)
            return
        result.written += len(batch)

    def _one_by_one(self, batch: Sequence[Row], result: Inserted) -> None:
        for i, row in enumerate(batch):
            try:
                self._execute([row])
            except Exception as exc:  # as in _insert_batch
                result.failed_statements += 1
                self._sort(row, exc, result)
                if result.unavailable is not None:
                    result.kept.extend(batch[i + 1 :])
                    return
                continue
            result.written += 1

    @staticmethod
    def _sort(row: Row, exc: BaseException, result: Inserted) -> None:
        failure = classify(exc)
        if failure is Failure.REFUSED:
            result.refused.append((row, exc))
            return
        result.kept.append(row)
        if failure is Failure.UNAVAILABLE:
            result.unavailable = exc
        else:
            result.unexplained.append((row, exc))

    def _execute(self, rows: Sequence[Row]) -> None:
        if self._calendar is None:
            with self.engine.begin() as connection:
                if self.sqlite is not None:
                    for sql, params in self.sqlite.statements(rows):
                        connection.exec_driver_sql(sql, tuple(params))
                else:
                    connection.execute(self._statement, rows)
            return
        try:
            with self.engine.begin() as connection:
                new = self._insert_returning(connection, rows)
                if new:
                    self._add_totals(connection, rows, new)
                if self.release:  # after the totals: rows locked in the order reserve() does
                    release_reservations(connection, (row["event_id"] for row in rows))
        except AlteredByIgnore:
            self._strict_check(rows)
            raise

    def _add_totals(self, connection: Connection, rows: Sequence[Row], new: set[str]) -> None:
        try:
            add_totals(connection, tally(self._calendar, _counted(rows, new)))
        # A row the database refuses is refused by the ledger's insert, before this; what
        # fails here (a total out of range, a bug of ours) must not set rows aside.
        except Exception as exc:
            if classify(exc) is Failure.UNAVAILABLE:
                raise
            raise TotalsFailed(describe(exc)) from exc

    def _insert_returning(self, connection: Connection, rows: Sequence[Row]) -> set[str]:
        """Insert `rows`; the event ids of those inserted (not skipped as duplicates)."""
        if self.sqlite is not None:
            new: set[str] = set()
            for sql, params in self.sqlite.statements(rows):
                new.update(connection.exec_driver_sql(sql, tuple(params)).scalars())
            return new
        if self._unnest is not None:
            sql, params = self._unnest.sql, self._unnest.params(rows)
            return set(connection.exec_driver_sql(sql, params).scalars())
        # MariaDB: rows already present are left out first, so that the IGNORE's warnings
        # are only those of a copy another process inserts meanwhile (few, and listed).
        ids = [row["event_id"] for row in rows]
        present = select(calls.c.event_id).where(calls.c.event_id.in_(ids))
        known = set(connection.execute(present).scalars())
        fresh = [row for row in rows if row["event_id"] not in known]
        if not fresh:
            return set()
        one_statement = {"insertmanyvalues_page_size": len(fresh)}  # its warnings are all
        result = connection.execute(self._returning, fresh, execution_options=one_statement)
        new = set(result.scalars())
        if not ignored_only_duplicates(connection, len(fresh), len(new)):
            raise AlteredByIgnore(f"{len(fresh) - len(new)} rows not inserted as they were")
        return new

    def _strict_check(self, rows: Sequence[Row]) -> None:
        """Raise what the strict insert of `rows` raises (the database's own reason, for
        `classify`), never keeping what it inserted."""
        with self.engine.connect() as connection, connection.begin() as transaction:
            connection.execute(self._statement, rows)
            transaction.rollback()


def _counted(rows: Sequence[Row], new: set[str]):
    """(at_us, provider, model, tags, cost, calls) of each inserted row, once: a batch may
    hold two copies of one row (a spooled row and its replay), of which one was inserted."""
    pending = set(new)
    for row in rows:
        event_id = row["event_id"]
        if event_id in pending:
            pending.discard(event_id)
            yield row["at_us"], row["provider"], row["model"], row["tags"], row["cost"], 1
