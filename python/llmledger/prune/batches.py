"""Deleting the ledger's calls before the horizon, a batch per transaction.

Each batch is the next `batch_size` calls of one UTC day, in time order. In one
transaction it adds their sums (grouped as the daily rollup groups them) to
`llmledger_pruned_rollup`, deletes their backfilled prices and deletes them; the batch that
empties the day also rolls the day up again, as its pruned sums plus the calls the ledger
still holds (`reaggregate.days`). So at every commit the pruned sums and the ledger together
hold every call exactly once, and a prune killed at any point is finished by running it again.
Only calls the nightly job has rolled up (ids up to its watermark) are taken: one recorded
meanwhile, dated in the past, waits for the job's next run and the next prune. Nor is the
ledger's newest call by id, ever: SQLite gives a new row the highest id plus one, so deleting
that call would hand its id to the next row, below the job's watermark, never rolled up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, select

from ..progress import Progress
from ..reaggregate.backfill import DAY_US
from ..reaggregate.days import EPOCH, add_groups, group_sums, recompute_day
from ..store.derived import backfill, pruned_rollup
from ..store.schema import calls

__all__ = ["Deleted", "days_to_prune", "delete_days", "last_prunable_id"]


@dataclass
class Deleted:
    """What the batches deleted."""

    calls: int = 0
    backfilled: int = 0
    days: int = 0


def _of_day(day: int, last_id: int):
    return and_(
        calls.c.at_us >= day * DAY_US, calls.c.at_us < (day + 1) * DAY_US, calls.c.id <= last_id
    )


def last_prunable_id(conn: Connection, watermark: int) -> int:
    """The highest id a prune may delete: rolled up by the job, and not the newest."""
    newest = conn.execute(select(func.max(calls.c.id))).scalar_one() or 0
    return min(watermark, newest - 1)


def days_to_prune(conn: Connection, horizon: int, last_id: int) -> list[tuple[int, int]]:
    """(day, calls) for each UTC day before `horizon` with calls to prune, in order."""
    day_of = (calls.c.at_us // DAY_US).label("day_number")
    query = (
        select(day_of, func.count())
        .where(calls.c.at_us < horizon, calls.c.id <= last_id)
        .group_by(day_of)
        .order_by(day_of)
    )
    return [(int(day), int(n)) for day, n in conn.execute(query)]


def _add_pruned(conn: Connection, day: int, batch: Any, keys: tuple[str, ...]) -> None:
    """Add the sums of the calls `batch` selects (all of day `day`) to the day's pruned sums."""
    groups = group_sums(conn, batch, keys)
    date = EPOCH + dt.timedelta(days=day)
    mine = and_(pruned_rollup.c.day == date, pruned_rollup.c.group_key.in_([k for _, k in groups]))
    held = conn.execute(select(pruned_rollup).where(mine)).mappings().all()
    merged = add_groups({(r["day"], r["group_key"]): dict(r) for r in held}, groups.values())
    conn.execute(delete(pruned_rollup).where(mine))
    conn.execute(insert(pruned_rollup), list(merged.values()))


def _batch(
    conn: Connection, day: int, ids_to: tuple[int, int], keys: tuple[str, ...], batch_size: int
) -> tuple[int, int, bool]:
    """One batch of day `day`, in `conn`'s transaction: (calls, backfilled prices) deleted,
    and whether the day is done. `ids_to`: the last id to delete, and the job's watermark."""
    last_id, watermark = ids_to
    if conn.dialect.name == "sqlite":
        # The write lock from the start: a read first would fail to upgrade (SQLITE_BUSY)
        # if the app's writer committed in between.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    in_day = _of_day(day, last_id)
    # The batch: the day's first `batch_size` calls in time, as a range of `at_us` (calls
    # before it are gone), so each statement below is an index range, not a list of ids.
    # Calls sharing the last instant all go: a batch may exceed `batch_size` by those.
    last_at = conn.execute(
        select(calls.c.at_us).where(in_day).order_by(calls.c.at_us).offset(batch_size - 1).limit(1)
    ).first()
    batch = in_day if last_at is None else and_(in_day, calls.c.at_us <= last_at[0])
    _add_pruned(conn, day, batch, keys)
    of_batch = select(calls.c.id).where(batch)
    backfilled = conn.execute(delete(backfill).where(backfill.c.call_id.in_(of_batch))).rowcount
    deleted = conn.execute(delete(calls).where(batch)).rowcount
    done = last_at is None or not conn.execute(select(exists().where(in_day))).scalar()
    if done:  # the pruned sums, and what the job rolled up of the day's calls still here
        recompute_day(conn, day, watermark, keys)
    return deleted, backfilled, done


def delete_days(
    engine: Engine,
    days: list[tuple[int, int]],
    ids_to: tuple[int, int],
    keys: tuple[str, ...],
    batch_size: int,
    bar: Progress,
    after_batch: Callable[[int], object] | None = None,
) -> Deleted:
    """Prune each of `days` (from `days_to_prune`) batch by batch, deleting ids up to
    `ids_to`'s first (`last_prunable_id`; the second is the job's watermark);
    `after_batch(calls)` is called after each commit (tests use it to stop a prune midway)."""
    total = Deleted()
    for day, _ in days:
        done = False
        while not done:
            with engine.begin() as conn:
                deleted, backfilled, done = _batch(conn, day, ids_to, keys, batch_size)
            total.calls += deleted
            total.backfilled += backfilled
            bar.advance(deleted)
            if after_batch is not None:
                after_batch(deleted)
        total.days += 1
    return total
