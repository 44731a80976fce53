"""Reservations of a block budget's spend by calls in flight (`Budget(reserve=True)`).

A request reserves its worst-case cost in each (period, period start, scope) it spends in,
before it leaves: `reserve` inserts its rows only if, for every scope, the spend total plus
the unexpired reservations plus this amount stays within the limit, all or nothing. What
makes that atomic across processes is a lock per scope held for the check and the insert:
PostgreSQL's transaction-level advisory lock, MariaDB's named lock (`GET_LOCK`, taken per
database), SQLite's database write lock (`BEGIN IMMEDIATE`). The writer takes none of them:
it releases a call's reservations (`release`, by the call's `event_id`) in the transaction
that adds the call's real cost to the totals, so a check sees either the reservation or the
cost, never neither, as long as it reads both in one statement (one snapshot); it does.

A reservation's commit does not wait for the disk (PostgreSQL's `synchronous_commit`,
SQLite's `synchronous`): a crash may lose reservations of calls in flight, never a ledger
row or a total. A reservation expires `RESERVATION_SECONDS` after it is made: a process
killed mid-call, or a call whose row is never written, holds the budget no longer than that.
Expired rows are left out of every check and deleted now and then (`sweep`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    String,
    Table,
    TextClause,
    delete,
    insert,
    text,
)

from .totals import metadata, spend_totals

__all__ = [
    "RESERVATION_SECONDS",
    "Hold",
    "budget_reservations",
    "release",
    "release_now",
    "reserve",
    "sweep",
]

RESERVATION_SECONDS = 600
_LOCK_WAIT_SECONDS = 10  # MariaDB's GET_LOCK; PostgreSQL and SQLite wait as for any lock

budget_reservations = Table(
    "llmledger_budget_reservations",
    metadata,
    Column("period", String(8), primary_key=True),
    Column("start_us", BigInteger, primary_key=True, autoincrement=False),
    Column("scope_key", String(64), primary_key=True),
    Column("event_id", String(32), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("expires_at_us", BigInteger, nullable=False),
    Index("ix_llmledger_budget_reservations_event_id", "event_id"),
)
"""One row per call in flight and scope it reserves in: its worst-case cost, pico-USD."""
_INSERT = insert(budget_reservations)
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_PG_LOCK_AND_ASYNC_COMMIT = text(
    "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(:key)"
)


class Hold(NamedTuple):
    """What one call asks to reserve in one scope's period, and the limit it must fit."""

    period: str
    start_us: int
    scope_key: str
    amount: int
    limit: int

    @property
    def lock_name(self) -> str:
        identity = f"{self.period}:{self.start_us}:{self.scope_key}".encode()
        return hashlib.sha256(identity).hexdigest()[:24]


def reserve(
    engine: Engine, event_id: str, holds: Sequence[Hold], now_us: int
) -> tuple[Hold, int] | None:
    """Reserve every hold for the call `event_id`, or none: None once reserved, else the
    first hold that does not fit and what its scope has spent and reserved (pico-USD)."""
    holds = sorted(holds)  # locks in one order everywhere: no deadlock between two calls
    name = engine.dialect.name
    with engine.connect() as connection:
        if name == "mysql":
            for hold in holds:
                connection.exec_driver_sql(
                    "SELECT GET_LOCK(CONCAT(DATABASE(), ':', %s), %s)",
                    (hold.lock_name, _LOCK_WAIT_SECONDS),
                )
            try:
                return _check_and_insert(connection, event_id, holds, now_us)
            finally:
                connection.rollback()  # what a failure left open (a no-op after commit)
                connection.exec_driver_sql("SELECT RELEASE_ALL_LOCKS()")
        if name == "sqlite":
            # Not synced to disk at commit: a reservation lost to a power cut was only held
            # for a call in flight. The connection's own setting is put back after.
            synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                return _check_and_insert(connection, event_id, holds, now_us)
            finally:
                connection.rollback()  # what a failure left open (a no-op after commit)
                connection.exec_driver_sql(f"PRAGMA synchronous={int(synchronous)}")
        # PostgreSQL: as above, the commit need not wait for the disk; the lock ends with
        # the transaction.
        for i, hold in enumerate(holds):  # the setting with the first lock: one round trip
            key = int.from_bytes(bytes.fromhex(hold.lock_name[:16]), "big", signed=True)
            connection.execute(_PG_LOCK_AND_ASYNC_COMMIT if i == 0 else _PG_LOCK, {"key": key})
        return _check_and_insert(connection, event_id, holds, now_us)


def _check_and_insert(
    connection: Connection, event_id: str, holds: Sequence[Hold], now_us: int
) -> tuple[Hold, int] | None:
    held = _spent_and_reserved(connection, holds, now_us)
    for hold, already in zip(holds, held, strict=True):
        if already + hold.amount > hold.limit:
            connection.rollback()
            return hold, already
    expires = now_us + RESERVATION_SECONDS * 1_000_000
    rows = [
        {"period": h.period, "start_us": h.start_us, "scope_key": h.scope_key,
         "event_id": event_id, "amount": h.amount, "expires_at_us": expires}
        for h in holds
    ]  # fmt: skip
    connection.execute(_INSERT, rows)
    connection.commit()
    return None


def _spent_and_reserved(connection: Connection, holds: Sequence[Hold], now_us: int) -> list[int]:
    """Each hold's scope: its spend total plus its unexpired reservations, in one statement,
    so that a writer's commit (cost added, reservation released) is seen whole or not at all."""
    params: dict[str, object] = {"now": now_us}
    for i, hold in enumerate(holds):
        params.update({f"p{i}": hold.period, f"s{i}": hold.start_us, f"k{i}": hold.scope_key})
    values = [int(v) for v in connection.execute(_held_sql(len(holds)), params).one()]
    return [values[i] + values[i + 1] for i in range(0, len(values), 2)]


@cache
def _held_sql(holds: int) -> TextClause:
    """The statement of `_spent_and_reserved` for this many holds, built once: it runs before
    every reserved request, where building and compiling a query each time would show."""
    t, r = spend_totals.name, budget_reservations.name
    columns = []
    for i in range(holds):
        where = f"period = :p{i} AND start_us = :s{i} AND scope_key = :k{i}"
        columns.append(f"COALESCE((SELECT cost FROM {t} WHERE {where}), 0)")
        columns.append(
            f"COALESCE((SELECT SUM(amount) FROM {r} WHERE {where} AND expires_at_us > :now), 0)"
        )
    return text("SELECT " + ", ".join(columns))


def release(connection: Connection, event_ids: Iterable[str]) -> None:
    """Drop the reservations of these calls, in `connection`'s transaction (the writer's)."""
    ids = list(event_ids)
    if ids:
        connection.execute(
            delete(budget_reservations).where(budget_reservations.c.event_id.in_(ids))
        )


def release_now(engine: Engine, event_id: str) -> None:
    """Drop one call's reservations at once: its request failed, nothing will be written."""
    with engine.begin() as connection:
        release(connection, (event_id,))


def sweep(engine: Engine, now_us: int) -> int:
    """Delete expired reservations; returns how many."""
    r = budget_reservations
    with engine.begin() as connection:
        return connection.execute(delete(r).where(r.c.expires_at_us <= now_us)).rowcount
