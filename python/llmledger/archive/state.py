"""The archive's own watermark, kept in the Delta table so the table answers alone.

Each write commits, in the same commit as its files, Delta transaction identifiers
(`txn` actions: an application id and a version, part of every snapshot of the table, kept
through compaction and checkpoints): `llmledger.through_id` (the highest ledger id the job had
seen), `llmledger.until_us` (the exclusive end of the closed days archived) and
`llmledger.backfilled_at_us` (the time of the newest backfill archived). Together they say:
every call with `at_us < until_us` and `id <= through_id` is in the table, with the backfill
written up to `backfilled_at_us`. A reader needs the table and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from deltalake import DeltaTable, Transaction

from ..analytics.source import TAG_PREFIX

__all__ = [
    "DAY_US",
    "TAG_COLUMN_PREFIX",
    "ArchiveState",
    "archive_state",
    "open_table",
    "transactions",
]

DAY_US = 86_400_000_000
"""The archive's partitions are UTC days."""

TAG_COLUMN_PREFIX = TAG_PREFIX
"""Tag `k` is the column `tags.k`, as the analytics layer names it (the ledger's columns have
no dot, so a tag never clashes with one)."""

_THROUGH_ID = "llmledger.through_id"
_UNTIL_US = "llmledger.until_us"
_BACKFILLED_AT_US = "llmledger.backfilled_at_us"


@dataclass(frozen=True)
class ArchiveState:
    """What an archive holds."""

    through_id: int
    """Highest ledger id archived: every call with id <= through_id dated before `until_us`
    is in the table."""
    until_us: int
    """Exclusive end (UTC microseconds since the epoch) of the last archived day."""
    backfilled_at_us: int
    """When the newest backfill in the table was priced (0: none)."""
    tag_keys: tuple[str, ...]
    """The tags that are columns of the table (`tags.<key>`), in the table's order."""
    version: int
    """The Delta table's version."""


def open_table(uri: str) -> DeltaTable | None:
    """The Delta table at `uri` (storage options from the environment), None if there is none."""
    if not DeltaTable.is_deltatable(uri):
        return None
    return DeltaTable(uri)


def archive_state(uri: str) -> ArchiveState | None:
    """The archive at `uri`'s state, or None when no archive was written there."""
    table = open_table(uri)
    if table is None:
        return None
    return state_of(table)


def state_of(table: DeltaTable) -> ArchiveState | None:
    """`table`'s state, or None for a Delta table no ledger job wrote."""
    through_id = table.transaction_version(_THROUGH_ID)
    if through_id is None:
        return None
    names = [f.name for f in table.schema().fields]
    return ArchiveState(
        through_id=through_id,
        until_us=table.transaction_version(_UNTIL_US) or 0,
        backfilled_at_us=table.transaction_version(_BACKFILLED_AT_US) or 0,
        tag_keys=tuple(
            n.removeprefix(TAG_COLUMN_PREFIX) for n in names if n.startswith(TAG_COLUMN_PREFIX)
        ),
        version=table.version(),
    )


def transactions(through_id: int, until_us: int, backfilled_at_us: int) -> list[Transaction]:
    """The `txn` actions recording a state, committed with the write that reaches it."""
    return [
        Transaction(_THROUGH_ID, through_id),
        Transaction(_UNTIL_US, until_us),
        Transaction(_BACKFILLED_AT_US, backfilled_at_us),
    ]
