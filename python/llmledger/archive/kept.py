"""The archived rows of pruned days, kept when the nightly job rewrites those days.

Below the prune horizon the ledger no longer holds every call: a day written there again (a
late call, a backfilled price, `--rebuild`) is its archived rows plus the ledger's, the
ledger's row winning for an id in both (it is the newer: a backfilled price). The archived
rows are staged in a local Parquet file before the write begins: delta-rs cannot read a table
from inside the stream it is writing into one (both block on its one async runtime), and a
rebuild may keep more rows than memory holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from sqlalchemy import Engine, select

from ..analytics.source import Query
from ..store.schema import calls
from .read import read_archive
from .state import DAY_US

__all__ = ["archived_days", "kept_rows", "stage_kept_rows"]


def archived_days(table: DeltaTable | None, horizon: int | None) -> set[int]:
    """The days (since the epoch) before the prune `horizon` that `table` holds files of."""
    if table is None or horizon is None:
        return set()
    days = pa.table(table.get_add_actions(flatten=True))["partition.day"]
    return {d for d in pc.drop_null(days).cast(pa.int32()).to_pylist() if d < horizon // DAY_US}


def _ledger_ids(engine: Engine, span: tuple[int, int], max_id: int) -> list[int]:
    with engine.connect() as conn:
        query = select(calls.c.id).where(
            calls.c.at_us >= span[0] * DAY_US,
            calls.c.at_us < span[1] * DAY_US,
            calls.c.id <= max_id,
        )
        return list(conn.execute(query).scalars())


def stage_kept_rows(
    engine: Engine,
    uri: str,
    spans: list[tuple[int, int]],
    query: Query,
    max_id: int,
    path: Path,
) -> None:
    """Write to `path` the archived rows of the days `spans` (`(first, last + 1)`) whose ids
    the ledger does not hold up to `max_id`, as `query`'s columns (its window is replaced)."""
    schema = query.schema()
    with pq.ParquetWriter(path, schema) as out:
        for first, end in spans:
            in_ledger = _ledger_ids(engine, (first, end), max_id)
            window = replace(query, since_us=first * DAY_US, until_us=end * DAY_US)
            for batch in read_archive(uri, window):
                ids = pa.array(in_ledger, batch["id"].type)
                out.write_batch(batch.filter(pc.invert(pc.is_in(batch["id"], value_set=ids))))


def kept_rows(path: Path) -> Iterator[pa.RecordBatch]:
    """The rows `stage_kept_rows` wrote to `path`."""
    yield from pq.ParquetFile(path).iter_batches()
