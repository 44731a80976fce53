"""Rollups and re-pricing straight from the database: `rollup(engine, ...)`.

Only what the request needs leaves the database: the columns its keys, sums and re-pricing
use, the rows of its time window and `where` filters (both applied in SQL), and of the JSON
tags only the keys asked for. The batches then go to the same kernels as an in-memory ledger
(as Arrow, each tag a column `tags.<key>`: no Polars frame in between), so both paths give
the same result on the same calls.

A ledger larger than memory is read in parts of `PART_ROWS` rows: each part is rolled up with
its latencies kept, and the parts' results merged (sums added, latencies pooled), so the
result is exactly the one-part result while only one part's columns are held at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import polars as pl
import polars.selectors as cs
import pyarrow as pa
from sqlalchemy import Engine, select
from sqlalchemy.engine import URL

from ..store import load_snapshot, make_engine
from ..store.derived import backfill
from ..store.filters import tag_keys, tag_present, warn_unknown_tags, window
from ..store.read import read_calls
from ..store.schema import LEDGER_COLUMNS
from .frame import TIME_UNITS, Prepared, check_what_if
from .grouped import daily_sums, ledger_sums
from .memory import Moment, merge_parts, pricer_for, reprice_frame, rollup_frame
from .merge import merge_sums
from .planner import (
    ARCHIVE,
    DAILY,
    DAILY_MODELS,
    LEDGER_GROUPED,
    LEDGER_ROWS,
    Part,
    Plan,
    archive_of,
    plan,
)
from .request import Request
from .source import Query, read_batches

__all__ = [
    "PART_ROWS",
    "in_parts",
    "is_database",
    "reprice_engine",
    "rolled_up",
    "rollup_engine",
]


def is_database(source: Any) -> bool:
    """Whether `source` names a database (an Engine or a URL) rather than holding a ledger."""
    return isinstance(source, Engine | URL | str)


PART_ROWS = 16_000_000
"""A rollup from the database holds at most this many rows' columns at a time (about 2 GB for
a two-tag rollup, 120 bytes a row; lower it on a small machine); a larger read is rolled up
in parts of this size and the parts merged. Merging costs: on a 10M-row ledger in parts of
4M rows the rollup took 1.5 s on top of the read instead of 1.0 s."""


def _tags(keys: Iterable[str]) -> list[str]:
    return [k for k in dict.fromkeys(keys) if k not in LEDGER_COLUMNS and k not in TIME_UNITS]


def _with_backfill(engine: Engine, query: Query) -> Query:
    """`query`, reading each call's backfilled cost too when the nightly job priced some call
    of its window: one look at the backfill table (a few rows), and no join for a window
    without any."""
    found = select(backfill.c.call_id).limit(1)
    if query.since_us is not None:
        found = found.where(backfill.c.at_us >= query.since_us)
    if query.until_us is not None:
        found = found.where(backfill.c.at_us < query.until_us)
    with engine.connect() as connection:
        if connection.execute(found).first() is None:
            return query
    return replace(query, backfilled=True)


def _warn_unknown(
    engine: Engine, result: pl.DataFrame, query: Query, by: Sequence[str]
) -> pl.DataFrame:
    """`result`, after an `UnknownTagWarning` for each tag asked for that may not exist: a `by`
    tag with no value in any group, a `where` tag when no call matched (or asked to be
    missing). Each is looked for in the window's calls, and only when one is not found are
    the window's tag keys read, in one query (a scan of every call of the window)."""
    asked = [k for k in _tags(by) if result[k].null_count() == result.height]
    asked += [
        k
        for k, v in query.where.items()
        if k not in LEDGER_COLUMNS and (v is None or result.height == 0)
    ]
    if not asked:
        return result
    span = query.since_us, query.until_us
    with engine.connect() as connection:
        absent = [k for k in dict.fromkeys(asked) if not tag_present(connection, k, *span)]
        if absent:
            warn_unknown_tags(absent, tag_keys(connection, *span))
    return result


def in_parts(
    batches: Iterable[pa.RecordBatch], query: Query, part_rows: int | None = None
) -> Iterator[tuple[Prepared, bool]]:
    """`batches` of `query` in parts of at most `part_rows` rows (`PART_ROWS` when None; or
    one batch, if larger), each with whether it is the last, read as they are needed and
    handed to the core as Arrow (tag `k` as column `tags.k`, as the frame layer names it)."""
    part_rows = part_rows or PART_ROWS
    held: list[pa.RecordBatch] = []
    rows = 0

    def part() -> Prepared:
        return Prepared.from_arrow(pa.Table.from_batches(held, query.schema()), query.tags)

    for batch in batches:
        if held and rows + batch.num_rows > part_rows:
            yield part(), False
            held, rows = [], 0
        held.append(batch)
        rows += batch.num_rows
    yield part(), True


def rolled_up(
    batches: Iterable[pa.RecordBatch],
    query: Query,
    keys: Sequence[str],
    rollup_part: Callable[..., pl.DataFrame],
    *,
    part_rows: int | None = None,
    percentiles: bool = True,
) -> pl.DataFrame:
    """`rollup_part(frame)` over `batches`, the rows of `query` (from the ledger or the
    archive). Past `part_rows` rows (see `in_parts`), each part is rolled up and dropped
    before the next is read, and the results are merged: with its latencies kept
    (`latency_values=True`, merged exactly), or without `percentiles` only their sum,
    count and maximum (`latency_sums=True`, merged by `merge_sums`: the result then has no
    `latency_ms_p50` and `_p95`)."""
    latency = {"latency_values": True} if percentiles else {"latency_sums": True}
    rolled: list[pl.DataFrame] = []
    for part, last in in_parts(batches, query, part_rows):
        if last and not rolled:  # it all fits in one part: the in-memory rollup, as it is
            return rollup_part(part)
        rolled.append(rollup_part(part, **latency))
        del part
        # Arrow's allocator keeps the part's freed memory for Arrow alone: handed back, the
        # merge (Polars' allocator) reuses it instead of growing the process by as much.
        pa.default_memory_pool().release_unused()
    return merge_parts(rolled, keys) if percentiles else merge_sums(rolled, keys)


def rollup_engine(
    source: Engine | URL | str,
    by: Sequence[str] = (),
    since: Moment = None,
    until: Moment = None,
    bucket: str | None = None,
    tz: str = "UTC",
    where: Mapping[str, str | None] | None = None,
    reprice: Any = None,
    *,
    latency: str = "percentiles",
    explain: bool = False,
    _every_call: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, Plan]:
    """`llmledger.analytics.rollup` over a database (see there). `_every_call` reads every
    call of the window from the ledger, as before the planner: the reference its tests hold
    the planner to."""
    since_us, until_us = window(since, until)
    with _engine(source) as engine:
        if isinstance(reprice, str) and reprice != "current":
            reprice = _snapshot(engine, reprice)
        # One pricer for every part (a snapshot is compiled once).
        pricer = None if reprice is None else pricer_for("current" if reprice is True else reprice)
        request = Request(
            by=tuple(by),
            bucket=bucket,
            tz=tz,
            where=dict(where or {}),
            since_us=since_us,
            until_us=until_us,
            pricer=pricer,
            percentiles=latency == "percentiles",
        )

        def rollup_part(part: Prepared, **kw: Any) -> pl.DataFrame:
            return rollup_frame(part, by, None, None, bucket, tz, None, pricer, **kw)

        return _answer(engine, request, rollup_part, explain=explain, every_call=_every_call)


def reprice_engine(
    source: Engine | URL | str,
    since: Moment = None,
    until: Moment = None,
    catalog: Any = "current",
    as_mode: str | None = None,
    as_model: str | None = None,
    overrides: Any = None,
    by: Sequence[str] | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """`llmledger.analytics.reprice` over a database (see there). A `catalog` other than
    `"current"` given as a string is a stored snapshot's id."""
    since_us, until_us = window(since, until)
    with _engine(source) as engine:
        if isinstance(catalog, str) and catalog != "current":
            catalog = _snapshot(engine, catalog)
        pricer = pricer_for(catalog, overrides)
        check_what_if(pricer, as_mode, as_model)  # before reading, not after
        if by is None:
            # Per call: every column of every call, as `llmledger.calls()` reads them.
            frame = read_calls(engine, since=since, until=until)
            return reprice_frame(frame, None, None, pricer, as_mode, as_model)
        request = Request(
            by=tuple(by),
            tz=tz,
            since_us=since_us,
            until_us=until_us,
            pricer=pricer,
            what_if=(as_mode, as_model),
        )

        def reprice_part(part: Prepared, **kw: Any) -> pl.DataFrame:
            return reprice_frame(part, None, None, pricer, as_mode, as_model, None, by, tz, **kw)

        return _answer(engine, request, reprice_part, explain=False, every_call=False)


def _answer(
    engine: Engine,
    request: Request,
    rollup_part: Callable[..., pl.DataFrame],
    *,
    explain: bool,
    every_call: bool,
) -> pl.DataFrame | tuple[pl.DataFrame, Plan]:
    """The request answered part by part as the planner says, the parts merged exactly."""
    keys = request.keys
    if every_call:
        query = _with_backfill(engine, request.query())
        result = rolled_up(read_batches(engine, query), query, keys, rollup_part)
        return _warn_unknown(engine, result, query, keys)
    with engine.connect() as connection:
        planned = plan(connection, request, archive_of(engine))
    only = planned.parts[0] if len(planned.parts) == 1 else None
    if request.percentiles and only is not None and only.source == LEDGER_ROWS:
        # The ledger alone, as before the planner: no merge when it fits in one part.
        query = _with_backfill(engine, request.query(only.conditions()))
        started = time.perf_counter()
        result = rolled_up(read_batches(engine, query), query, keys, rollup_part)
        only.seconds, only.groups = time.perf_counter() - started, result.height
    else:
        results = []
        for part in planned.parts:
            started = time.perf_counter()
            found = _part(engine, planned, part, rollup_part)
            part.seconds, part.groups = time.perf_counter() - started, sum(f.height for f in found)
            results += found
        merge = merge_parts if request.percentiles else merge_sums
        result = merge(results, keys)
    result = result.sort(cs.by_name(keys), nulls_last=True) if keys else result
    result = _warn_unknown(engine, result, request.query(), keys)
    return (result, planned) if explain else result


def _part(
    engine: Engine, planned: Plan, part: Part, rollup_part: Callable[..., pl.DataFrame]
) -> list[pl.DataFrame]:
    """One part's results: per group sums (see `merge`) when the request asks for no
    percentiles, else with every group's latencies."""
    request = planned.request
    # The ledger's calls above the archive's last id: the part's spans (inside the request's
    # window) bound their time, and the request's window left out keeps the database reading
    # them by id, not every call of the window by the at_us index (see `Part.conditions`).
    windowed = part.ids_above is None
    if part.source in (DAILY, DAILY_MODELS, LEDGER_GROUPED):
        with engine.connect() as connection:
            if part.source != LEDGER_GROUPED:
                return [daily_sums(connection, request, part.days(), part.source == DAILY_MODELS)]
            query = _with_backfill(engine, request.query())
            return [ledger_sums(connection, request, part.conditions(), query.backfilled, windowed)]
    if part.source == ARCHIVE:
        archive = planned.archive
        # Every archived call carries its backfilled cost (a column of every archive): read
        # it always, for the backfill table no longer holds the prices of pruned calls.
        queries = [replace(request.query(window=w), backfilled=True) for w in part.windows()]
        batches = (b for q in queries for b in archive.read(q))
        query = queries[0]
    else:
        window = None if windowed else (None, None)
        query = _with_backfill(engine, request.query(part.conditions(), window=window))
        batches = read_batches(engine, query)
    # Each part's latencies for percentiles, else only their sum, count and maximum.
    latency = {"latency_values": True} if request.percentiles else {"latency_sums": True}
    return [rollup_part(p, **latency) for p, _ in in_parts(batches, query)]


@contextmanager
def _engine(source: Engine | URL | str) -> Iterator[Engine]:
    """The caller's Engine as it is, or one made from a URL for this call and disposed after
    (its pooled connections closed, not left to the garbage collector)."""
    engine = make_engine(source)
    try:
        yield engine
    finally:
        if engine is not source:
            engine.dispose()


def _snapshot(engine: Engine, snapshot_id: str) -> bytes:
    with engine.connect() as connection:
        content = load_snapshot(connection, snapshot_id)
    if content is None:
        raise LookupError(f"no price snapshot {snapshot_id!r} is stored in this database")
    return content
