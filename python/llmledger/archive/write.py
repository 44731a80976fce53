"""The nightly job's archive step: every call of the closed UTC days, into the Delta table.

A run writes, in one commit, every day that changed since the archive's watermark (see
`state`): days with calls the archive has not seen (a call recorded late, with an old time,
rewrites its old day; a server's slow writer is caught as the daily rollup catches it, by
looking `LOOKBACK_IDS` ids back), days closed since the last run, and days with calls
backfilled since. Each such day's files are replaced by a fresh read of the day from the
ledger (an overwrite with a predicate on the `day` partition), and the new watermark is part
of the same commit. A run killed before that commit leaves files no snapshot references and
the table as it was; the next run writes the same days again.

A day before the prune horizon (`llmledger prune`) is written as its archived rows plus the
ledger's rows of the day, the ledger's winning for an id in both (a backfilled price): the
ledger no longer holds the pruned calls, and the archive is then their only record. A rebuild
keeps every pruned day's archived rows the same way, rather than refusing: the alternative
leaves a pruned ledger's archive no way to regroup its columns, and the rows kept are those
the table already holds, never rebuilt from sums.

Only closed days (before today, UTC) are archived: today's calls still arrive, and the
watermark must never claim a day it holds only in part.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from tempfile import TemporaryDirectory

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, write_deltalake
from sqlalchemy import Connection, Engine, func, or_, select

from ..analytics.source import Query, read_batches
from ..store.derived import LOOKBACK_IDS, backfill, pruned_before_us
from ..store.filters import tag_keys
from ..store.schema import LEDGER_COLUMNS, calls
from .kept import archived_days, kept_rows, stage_kept_rows
from .state import DAY_US, ArchiveState, open_table, state_of, transactions

__all__ = ["ARCHIVE_COLUMNS", "DAY_US", "ArchiveRun", "archive_closed_days"]

ARCHIVE_COLUMNS = tuple(c.name for c in calls.c if c.name in LEDGER_COLUMNS)
"""The ledger's columns the archive keeps (all but the JSON `tags`, which become columns, and
`raw_usage`, the provider's usage object, which stays in the database)."""
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class ArchiveRun:
    """What the archive step did."""

    uri: str
    days: int
    """Days written (each replaces the day's files)."""
    calls: int
    """Calls those days hold."""
    through_id: int
    until: dt.date
    """The first day not archived (today, UTC, when the run started)."""
    rebuilt: bool

    def __str__(self) -> str:
        return (
            f"archive: {self.calls:,} calls of {self.days:,} closed days written to {self.uri} "
            f"(through id {self.through_id:,}, days before {self.until.isoformat()})"
        )


def _date(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=day)


def _days_to_write(
    conn: Connection, state: ArchiveState | None, max_id: int, until_us: int
) -> set[int]:
    """The closed days (as days since the epoch) whose calls changed since `state`."""
    day_of = calls.c.at_us // DAY_US
    closed = [calls.c.id <= max_id, calls.c.at_us < until_us]
    if state is None:
        query = select(day_of).where(*closed)
    else:
        seen_from = state.through_id - LOOKBACK_IDS if state.through_id else 0
        changed = or_(calls.c.id > seen_from, calls.c.at_us >= state.until_us)
        query = select(day_of).where(*closed, changed)
    days = {int(d) for d in conn.execute(query.distinct()).scalars()}
    if state is not None:
        later = select(backfill.c.at_us // DAY_US).where(
            backfill.c.backfilled_at_us > state.backfilled_at_us, backfill.c.at_us < until_us
        )
        days |= {int(d) for d in conn.execute(later.distinct()).scalars()}
    return days


def _spans(days: set[int]) -> list[tuple[int, int]]:
    """`days` as runs of consecutive days, each `(first, last + 1)`: one read per run."""
    spans: list[tuple[int, int]] = []
    for day in sorted(days):
        if spans and spans[-1][1] == day:
            spans[-1] = (spans[-1][0], day + 1)
        else:
            spans.append((day, day + 1))
    return spans


def _schema(tags: list[str]) -> pa.Schema:
    """The day, then the columns `read_batches` gives: the ledger's, the tags, the backfill."""
    read = Query(columns=ARCHIVE_COLUMNS, tags=tags, backfilled=True).schema()
    return pa.schema([pa.field("day", pa.date32()), *read])


def _query(tags: list[str], first: int, end: int) -> Query:
    since_us, until_us = first * DAY_US, end * DAY_US
    return Query(ARCHIVE_COLUMNS, tags=tags, since_us=since_us, until_us=until_us, backfilled=True)


def _batches(
    engine: Engine,
    spans: list[tuple[int, int]],
    kept: Iterator[pa.RecordBatch],
    tags: list[str],
    max_id: int,
    schema: pa.Schema,
    counted: list[int],
) -> Iterator[pa.RecordBatch]:
    """The calls of `spans` with ids up to `max_id`, then the `kept` rows of pruned days, each
    with its UTC `day`, as the archive's batches; `counted[0]` counts them."""
    # A call committed after max_id was read is the next run's (its id is above the
    # watermark this run records).
    ledger = (
        b.filter(pc.less_equal(b["id"], max_id))
        for first, end in spans
        for b in read_batches(engine, _query(tags, first, end))
    )
    for batch in chain(ledger, kept):
        if not batch.num_rows:
            continue
        # Times are after the epoch: integer division is the floor.
        day = pc.divide(batch["at_us"], DAY_US).cast(pa.int32()).cast(pa.date32())
        counted[0] += batch.num_rows
        yield pa.RecordBatch.from_arrays([day, *batch.columns], schema=schema)


def archive_closed_days(
    engine: Engine,
    uri: str,
    max_id: int,
    *,
    rebuild: bool = False,
    now_us: int | None = None,
    _wrap: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = None,
) -> ArchiveRun:
    """Bring the archive at `uri` up to the ledger's calls with ids up to `max_id` on closed
    days (see the module's docstring); `rebuild` rewrites the whole table. `now_us` stands
    for the clock (tests); `_wrap` wraps the batch stream (tests stop a run inside it)."""
    if now_us is None:
        now_us = time.time_ns() // 1000
    until_us = now_us // DAY_US * DAY_US
    table = open_table(uri)
    found = None if table is None else state_of(table)
    if table is not None and found is None:
        raise ValueError(f"{uri} holds a Delta table that is not a ledger's archive: not touched")
    state = None if rebuild else found
    with engine.connect() as conn:
        pruned = archived_days(table, pruned_before_us(conn))
        days = _days_to_write(conn, state, max_id, until_us)
        if rebuild:
            days |= pruned
        pruned &= days
        spans = _spans(days)
        # The kept rows' tags stay columns (`found` is set whenever a day is kept).
        tags = set(found.tag_keys) if pruned and found is not None else set()
        for first, end in spans:
            tags |= tag_keys(conn, first * DAY_US, end * DAY_US)
        backfilled_at_us = conn.execute(
            select(func.max(backfill.c.backfilled_at_us)).where(backfill.c.call_id <= max_id)
        ).scalar_one()
    schema = _schema(sorted(tags))
    whole = state is None  # a first run or a rebuild: the table is replaced as a whole
    if whole:
        predicate, mode, schema_mode = None, "overwrite", "overwrite"
    elif days:
        listed = ", ".join(f"'{_date(d).isoformat()}'" for d in sorted(days))
        predicate, mode, schema_mode = f"day IN ({listed})", "overwrite", "merge"
    else:  # nothing to write: an empty commit moves the watermark
        predicate, mode, schema_mode = None, "append", "merge"
    commit = CommitProperties(
        custom_metadata={"llmledger.operation": "archive closed days"},
        app_transactions=transactions(max_id, until_us, int(backfilled_at_us or 0)),
    )
    counted = [0]
    with TemporaryDirectory(prefix="llmledger-archive-") as staging:
        kept: Iterator[pa.RecordBatch] = iter(())
        if pruned:
            path = Path(staging, "kept.parquet")
            stage_kept_rows(engine, uri, _spans(pruned), _query(sorted(tags), 0, 0), max_id, path)
            kept = kept_rows(path)
        batches = _batches(engine, spans, kept, sorted(tags), max_id, schema, counted)
        if _wrap is not None:
            batches = _wrap(batches)
        write_deltalake(
            table if table is not None else uri,
            pa.RecordBatchReader.from_batches(schema, batches),
            partition_by=["day"],
            mode=mode,
            predicate=predicate,
            schema_mode=schema_mode,
            commit_properties=commit,
        )
    if days:
        _compact(uri, days)
    return ArchiveRun(uri, len(days), counted[0], max_id, _date(until_us // DAY_US), whole)


def _compact(uri: str, days: set[int]) -> None:
    """Merges the small files of the days just written (a day rewritten by a writer other
    than this job, or appended to, may hold many), and deletes the files no snapshot of the
    last week references (Delta's default retention: a reader of an older version within it
    still finds its files)."""
    table = open_table(uri)
    assert table is not None, "just written"
    written = [_date(d).isoformat() for d in sorted(days)]
    table.optimize.compact(partition_filters=[("day", "in", written)])
    table.vacuum(dry_run=False)
