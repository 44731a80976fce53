"""Inserting ledger rows so that one bad row never costs the others their place.

Rows go in batches, one statement each. When a batch fails, `failures.classify` reads the
error: a database that cannot be used now keeps the batch (and every row after it) for
later; otherwise the batch is sent again row by row, so only the row the database refuses is
set aside, and a row failing for a reason nobody can name waits for a later try while the
rows around it are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from .dialects import SqliteBulkInsert, insert_ignoring_duplicates
from .failures import Failure, classify
from .schema import calls

__all__ = ["Inserted", "Inserter"]

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


class Inserter:
    """Insert-or-ignore of ledger rows (keyed by `event_id`) into `engine`, in batches of
    `batch_size`, isolating the rows that fail."""

    def __init__(self, engine: Engine, batch_size: int) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self._statement = insert_ignoring_duplicates(engine.dialect, calls, "event_id")
        sqlite = engine.dialect.name == "sqlite"
        self.sqlite = SqliteBulkInsert(calls, "event_id") if sqlite else None

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
        with self.engine.begin() as connection:
            if self.sqlite is not None:
                for sql, params in self.sqlite.statements(rows):
                    connection.exec_driver_sql(sql, tuple(params))
            else:
                connection.execute(self._statement, rows)
