"""Rollups and re-pricing straight from the database: `rollup(engine, ...)`.

Only what the request needs leaves the database: the columns its keys, sums and re-pricing
use, the rows of its time window and `where` filters (both applied in SQL), and of the JSON
tags only the keys asked for. The batches then go through the same frame layer and kernels
as an in-memory ledger, so both paths give the same result on the same calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import polars as pl
import pyarrow as pa
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from ..store import load_snapshot, make_engine
from ..store.read import read_calls, to_us
from ..store.schema import BUCKETS
from .frame import TIME_UNITS
from .memory import Moment, reprice_frame, rollup_frame
from .source import LEDGER_COLUMNS, TAG_PREFIX, Query, read_batches

__all__ = ["is_database", "ledger_frame", "reprice_engine", "rollup_engine"]

_SUMMED = (*BUCKETS, "cost", "latency_ms")
_PRICING = ("at_us", "provider", "model", "pricing_mode")


def is_database(source: Any) -> bool:
    """Whether `source` names a database (an Engine or a URL) rather than holding a ledger."""
    return isinstance(source, Engine | URL | str)


def ledger_frame(
    engine: Engine,
    keys: Sequence[str],
    *,
    pricing: bool = False,
    since: Moment = None,
    until: Moment = None,
    where: Mapping[str, str | None] | None = None,
) -> pl.DataFrame:
    """The ledger's rows in the window and filters, with only the columns a rollup by `keys`
    (and re-pricing, if `pricing`) reads; tags as a `tags` struct of the keys asked for."""
    # at_us always: the frame layer takes it as the ledger's time column.
    columns = [*(_PRICING if pricing else ("at_us",)), *_SUMMED]
    columns += [k for k in keys if k in LEDGER_COLUMNS and k not in columns]
    tags = [k for k in dict.fromkeys(keys) if k not in LEDGER_COLUMNS and k not in TIME_UNITS]
    query = Query(
        columns=columns,
        tags=tags,
        since_us=None if since is None else to_us(since),
        until_us=None if until is None else to_us(until),
        where=dict(where or {}),
    )
    table = pa.Table.from_batches(read_batches(engine, query), schema=query.schema())
    # rechunk=False: the kernels take the batches as they are; concatenating them would copy.
    frame = cast(pl.DataFrame, pl.from_arrow(table, rechunk=False))
    if not tags:
        return frame
    tag_columns = [TAG_PREFIX + t for t in tags]
    packed = pl.struct([pl.col(c).alias(t) for c, t in zip(tag_columns, tags, strict=True)])
    return frame.with_columns(packed.alias("tags")).drop(tag_columns)


def rollup_engine(
    source: Engine | URL | str,
    by: Sequence[str] = (),
    since: Moment = None,
    until: Moment = None,
    bucket: str | None = None,
    tz: str = "UTC",
    where: Mapping[str, str | None] | None = None,
    reprice: Any = None,
) -> pl.DataFrame:
    """`llmledger.analytics.rollup` over a database (see there)."""
    keys = [*([bucket] if bucket else []), *by]
    with _engine(source) as engine:
        frame = ledger_frame(
            engine, keys, pricing=reprice is not None, since=since, until=until, where=where
        )
        if isinstance(reprice, str) and reprice != "current":
            reprice = _snapshot(engine, reprice)
    return rollup_frame(frame, by, None, None, bucket, tz, None, reprice)


def reprice_engine(
    source: Engine | URL | str,
    since: Moment = None,
    until: Moment = None,
    catalog: Any = "current",
    as_mode: str | None = None,
    as_model: str | None = None,
    overrides: Any = None,
    by: Sequence[str] | None = None,
) -> pl.DataFrame:
    """`llmledger.analytics.reprice` over a database (see there). A `catalog` other than
    `"current"` given as a string is a stored snapshot's id."""
    with _engine(source) as engine:
        if isinstance(catalog, str) and catalog != "current":
            catalog = _snapshot(engine, catalog)
        if by is None:
            # Per call: every column of every call, as `llmledger.calls()` reads them.
            frame = read_calls(engine, since=since, until=until)
        else:
            frame = ledger_frame(engine, by, pricing=True, since=since, until=until)
    return reprice_frame(frame, None, None, catalog, as_mode, as_model, overrides, by)


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
