"""`rollup(archive_uri, ..., engine="ray")`: the archive's rollup as Ray tasks.

    llmledger.rollup("s3://bucket/ledger-archive", by=["tenant"], engine="ray")

One map task per archive file of the window reads that file (the table's root and the file's
path are all it is given) and runs the same Rust partial rollup as the local path on it,
keeping each group's latencies (`latency_values`). It splits its groups into one shard per
reduce task by a hash of the group's key, so every part of a group meets in one reducer,
which merges them with `merge_parts`: counts and money added exactly (the kernels' Decimal
sums, i128 underneath), latencies pooled, so percentiles are those of all the group's calls,
exact. The driver only concatenates the reducers' groups and puts them back in the local
path's order (each group where its first call is, files in the snapshot's order).

Plain Ray tasks, not Ray Data: the shuffle is of partial results (one row per group and
file, not one per call), which `num_returns` shards hand to the reducers through the object
store as they are; Ray Data would add its own planning and block format for no exactness or
speed gained. Ray is imported only here, only when asked for (`pip install 'llmledger[ray]'`);
an application's own `ray.init()` is used as it is, else `ray.init()` connects to
`RAY_ADDRESS` if set, or starts a local instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import polars as pl
import pyarrow as pa

from ..archive.read import ArchiveFile, archive_files, read_files, table_schema
from ..archive.state import open_table
from ..pricing import Pricer
from .archived import archive_request, warn_absent_tags
from .frame import Prepared
from .memory import Moment, merge_parts, output_keys, rollup_frame, same_key_types
from .source import Query

__all__ = ["rollup_archive_on_ray"]

_ORDER = "_first_seen"
"""Where a partial row's group was first seen: the file's index in the high 32 bits, the
row's position in that file's rollup (the kernel's order of first calls) in the low."""


@cache
def _ray() -> Any:
    """Ray, imported on first use only: importing llmledger never imports it."""
    try:
        import ray
    except ModuleNotFoundError as error:  # the `ray` extra is not installed
        raise ImportError(
            "rollup(..., engine='ray') needs Ray: pip install 'llmledger[ray]'"
        ) from error
    return ray


def _connected() -> Any:
    """Ray, connected: the application's instance if it made one, else `ray.init()`."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS if set, else a local instance
    return ray


@cache
def _tasks() -> tuple[Any, Any]:
    """The map and reduce tasks, made once: each `ray.remote` exports its function anew."""
    ray = _ray()
    return ray.remote(_roll_file), ray.remote(_merge_shard)


def _key_text(keys: Sequence[str]) -> pl.Expr:
    """A group's key as text: a key null throughout a file is a String column there, of
    another type elsewhere; as text, the same group hashes and compares alike everywhere."""
    return pl.struct(pl.col(k).cast(pl.String).alias(str(i)) for i, k in enumerate(keys))


def _roll_file(
    root: str,
    file: ArchiveFile,
    schema: pa.Schema,
    query: Query,
    request: tuple[Sequence[str], str | None, str],
    pricing: bytes | None,
    index: int,
    shards: int,
) -> pa.Table | list[pa.Table]:
    """Map task: the partial rollup of one file, as one table per reducer (one table, not a
    list, for one reducer: a task of one return returns its value as it is)."""
    by, bucket, tz = request
    rows = pa.Table.from_batches(list(read_files(root, [file], schema, query)), query.schema())
    pricer = None if pricing is None else Pricer.from_snapshot(pricing)
    part = Prepared.from_arrow(rows, query.tags)
    rolled = rollup_frame(part, by, None, None, bucket, tz, None, pricer, latency_values=True)
    rolled = rolled.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + (index << 32)).alias(_ORDER)
    )
    keys = output_keys(by, bucket)
    if shards == 1:
        return rolled.to_arrow()
    shard = rolled.select(_key_text(keys).hash(seed=0) % shards).to_series()
    return [rolled.filter(shard == s).to_arrow() for s in range(shards)]


def _merge_shard(keys: Sequence[str], latency_values: bool, *shards: pa.Table) -> pa.Table | None:
    """Reduce task: the merged groups of one shard (None if it has none), each with where it
    was first seen. Shards come in file order, so merging keeps that order of groups."""
    parts = same_key_types([pl.from_arrow(s) for s in shards if s.num_rows], keys)
    if not parts:
        return None
    rows = pl.concat(parts)
    first = rows.filter(_key_text(keys).is_first_distinct()) if keys else rows.head(1)
    merged = merge_parts([p.drop(_ORDER) for p in parts], keys, latency_values=latency_values)
    return merged.with_columns(first.get_column(_ORDER)).to_arrow()


def _results(ray: Any, merged: list[Any]) -> list[pa.Table | None]:
    """The reducers' tables. An error a task raised (a zone that does not exist, a store the
    worker cannot reach) is raised as the local path raises it, not wrapped in Ray's error
    for each task it passed through on the way."""
    try:
        return ray.get(merged)
    except ray.exceptions.RayTaskError as error:
        cause = error.cause
        while isinstance(cause, ray.exceptions.RayTaskError):  # a map task's, through a reducer
            cause = cause.cause
        raise cause from None


def rollup_archive_on_ray(
    uri: str,
    by: Sequence[str] = (),
    since: Moment = None,
    until: Moment = None,
    bucket: str | None = None,
    tz: str = "UTC",
    where: Mapping[str, str | None] | None = None,
    reprice: Any = None,
    *,
    latency_values: bool = False,
) -> pl.DataFrame:
    """`llmledger.analytics.archived.rollup_archive` on Ray: the same result, row for row.
    `latency_values` as for `rollup_frame`: each group's latencies instead of their
    statistics, for a planner to merge with the rollups of other parts (`merge_parts`)."""
    ray = _connected()
    state, query, pricer = archive_request(uri, by, since, until, bucket, where, reprice)
    table = open_table(uri)
    files = archive_files(table, query)
    keys = output_keys(by, bucket)
    shards = max(1, min(len(files), int(ray.cluster_resources().get("CPU", 1)))) if keys else 1
    roll, merge = _tasks()
    roll = roll.options(num_returns=shards)
    request = (list(by), bucket, tz)
    pricing = None if pricer is None else pricer.snapshot_content
    schema, root = table_schema(table), table.table_uri
    mapped = [
        roll.remote(root, file, schema, query, request, pricing, index, shards)
        for index, file in enumerate(files)
    ]
    if shards == 1:  # one return is a reference, not a list of them
        mapped = [[refs] for refs in mapped]
    merged = [
        merge.remote(keys, latency_values, *(refs[s] for refs in mapped)) for s in range(shards)
    ]
    results = [pl.from_arrow(t) for t in _results(ray, merged) if t is not None]
    warn_absent_tags(state, query)
    if not results:  # no file in the window: the local path's answer for no calls
        empty = Prepared.from_arrow(query.schema().empty_table(), query.tags)
        return rollup_frame(
            empty, by, None, None, bucket, tz, None, pricer, latency_values=latency_values
        )
    frame = pl.concat(same_key_types(results, keys))
    return frame.sort(_ORDER).drop(_ORDER)
