"""Reading the ledger into a Polars DataFrame, one row per call, money exact.

Costs are stored as pico-USD integers; they come out as Polars Decimal(38, 12) USD, built from
the integers with Python's Decimal (exact scaling, never through a float). A call recorded
unpriced that the nightly job priced later keeps its NULL `cost`; the later price comes in
`backfilled_cost` and its rule in `backfilled_price_*`, read from `llmledger_backfill`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import polars.selectors as cs
from sqlalchemy import Engine, Select, Text, case, cast, func, literal_column, or_, select

from .derived import backfill
from .filters import conditions, tag_keys, warn_unknown_tags, window
from .schema import BUCKETS, COST_COLUMNS, LEDGER_COLUMNS, calls

__all__ = [
    "BACKFILL_COLUMNS",
    "CALL_SCHEMA",
    "PRICE_COLUMNS",
    "Page",
    "read_calls",
    "read_page",
]

MONEY = pl.Decimal(38, 12)
_PICO = pl.Series([Decimal("1e-12")], dtype=pl.Decimal(38, 12))
PRICE_COLUMNS = (  # the price rule a row keeps
    "price_snapshot_id",
    "price_source",
    "price_provider",
    "price_model",
    "price_version",
    "price_variant",
    "price_tier",
)
BACKFILL_COLUMNS = ("backfilled_cost", *(f"backfilled_{c}" for c in PRICE_COLUMNS))
"""The later price of a call recorded unpriced, as `read_calls` names its columns."""

CALL_SCHEMA: dict[str, Any] = {
    "at": pl.Datetime("us", "UTC"),
    "provider": pl.String,
    "model": pl.String,
    **dict.fromkeys(BUCKETS, pl.Int64),
    "cost": MONEY,
    **dict.fromkeys(COST_COLUMNS, MONEY),
    "pricing_mode": pl.String,
    "usage_source": pl.String,
    "status": pl.String,
    "http_status": pl.Int64,
    "latency_ms": pl.Float64,
    "provider_response_id": pl.String,
    "event_id": pl.String,
    **dict.fromkeys(PRICE_COLUMNS, pl.String),
    "price_tier": pl.Int64,
    "backfilled_cost": MONEY,
    **dict.fromkeys(BACKFILL_COLUMNS[1:], pl.String),
    "backfilled_price_tier": pl.Int64,
    # `tags` is a Struct of strings whose fields are the union of the keys read.
    "raw_usage": pl.String,
}
"""Column names and types of `read_calls`' frame (``tags`` aside, whose fields vary)."""

_SELECTED = [name for name in CALL_SCHEMA if name != "at"]
_ORDER = [*(name for name in CALL_SCHEMA if name != "raw_usage"), "tags", "raw_usage"]
# The backfill's columns under their frame names: none is a name of the ledger's, so the
# WHERE's bare column names stay unambiguous.
_BACKFILL = select(
    backfill.c.call_id,
    backfill.c.cost.label("backfilled_cost"),
    *(backfill.c[c].label(f"backfilled_{c}") for c in PRICE_COLUMNS),
).subquery("backfill")


@dataclass(frozen=True)
class Page:
    """Which calls of a window `read_page` returns, and in what order.

    `order` is `newest` (time, newest first) or `cost` (recorded, else backfilled, cost,
    highest first, unpriced calls last). `priced` keeps the calls with a cost (True) or
    without one (False). `after` is the (`at_us`, `id`) of the last call of the previous
    page, newest first: reading on from there stays as fast on the millionth call as on the
    first, where an OFFSET reads every call before it again.
    """

    order: str = "newest"
    limit: int = 50
    offset: int = 0
    priced: bool | None = None
    after: tuple[int, int] | None = None


def read_page(
    engine: Engine,
    since: datetime | date | str | None,
    until: datetime | date | str | None,
    where: Mapping[str, Any],
    page: Page,
) -> pl.DataFrame:
    """One page of the calls `read_calls(engine, since, until, **where)` reads, in `page`'s
    order, with their ledger `id` as the last column (the key `Page.after` continues from).
    Tags it filters on are not checked against the window's: the caller knows them."""
    since_us, until_us = window(since, until)
    where_sql = conditions(engine.dialect.name, since_us, until_us, where)
    query = _select(where_sql).add_columns(calls.c.id)
    cost = func.coalesce(calls.c.cost, _BACKFILL.c.backfilled_cost)
    if page.priced is not None:
        query = query.where(cost.is_not(None) if page.priced else cost.is_(None))
    if page.after is not None:
        at_us, call_id = page.after
        # `at_us <= ...` on its own: an index range every database uses, where an OR alone
        # may read the whole window.
        query = query.where(calls.c.at_us <= at_us).where(
            or_(calls.c.at_us < at_us, calls.c.id < call_id)
        )
    if page.order == "cost":
        # Unpriced last, spelt as a CASE: MySQL/MariaDB have no NULLS LAST.
        query = query.order_by(case((cost.is_(None), 1), else_=0), cost.desc())
    elif page.order != "newest":
        raise ValueError(f"a page is ordered by newest or cost, not {page.order!r}")
    query = query.order_by(calls.c.at_us.desc(), calls.c.id.desc())
    query = query.limit(page.limit).offset(page.offset)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = _frame([row[:-1] for row in rows])
    return frame.with_columns(pl.Series("id", [row[-1] for row in rows], pl.Int64))


def _select(where: Sequence[str]) -> Select:
    """The calls meeting the SQL conditions `where`, every column `_frame` reads."""
    # JSON columns come as text: Polars decodes them in bulk, far faster than row by row.
    columns = [
        _BACKFILL.c[n] if n in BACKFILL_COLUMNS else calls.c[n]
        for n in _SELECTED
        if n != "raw_usage"
    ]
    return (
        select(calls.c.at_us, *columns, cast(calls.c.raw_usage, Text), cast(calls.c.tags, Text))
        .select_from(calls.outerjoin(_BACKFILL, _BACKFILL.c.call_id == calls.c.id))
        .where(*(literal_column(c) for c in where))
    )


def read_calls(
    engine: Engine,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    **filters: Any,
) -> pl.DataFrame:
    """The ledger's calls from `since` (inclusive) to `until` (exclusive), oldest first.

    Times are datetimes (naive means UTC), dates (midnight UTC) or ISO 8601 strings. Each
    keyword filters on a column of the ledger (``provider="openai"``) or else a tag
    (``tenant="acme"``), compared as a string in SQL, as ``rollup(where=...)`` does; None
    keeps the calls where the column is null or that lack the tag.

    Columns: ``at`` (Datetime us, UTC), provider, model, the eight token buckets (Int64),
    ``cost`` and ``cost_*`` (Decimal(38, 12) USD, null when unpriced), pricing_mode,
    usage_source, status, http_status, latency_ms, provider_response_id, event_id, the
    ``price_*`` rule columns, ``backfilled_cost`` and ``backfilled_price_*`` (the price the
    nightly job found later for a call recorded unpriced, and its rule; null otherwise: the
    call's cost is ``cost``, else ``backfilled_cost``), ``tags`` (Struct of strings over the
    union of keys, null where a row lacks one; no fields when no row has tags) and
    ``raw_usage`` (JSON text). An empty ledger gives an empty frame with these columns.

    A `ValueError` unless `since` is before `until`; an `UnknownTagWarning` when a tag filter
    names a tag no call of the window has.
    """
    since_us, until_us = window(since, until)
    where = conditions(engine.dialect.name, since_us, until_us, filters)
    query = _select(where).order_by(calls.c.at_us, calls.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        frame = _frame(rows)
        # A tag filter that found no value of its tag may be a typo: say which tags exist.
        asked = [k for k in filters if k not in LEDGER_COLUMNS and not _has_values(frame, k)]
        if asked:
            warn_unknown_tags(asked, tag_keys(connection, since_us, until_us))
    return frame


def _has_values(frame: pl.DataFrame, key: str) -> bool:
    """Whether some call of `frame` has tag `key`."""
    tags = frame["tags"]
    # By exact name: `struct.field` reads `*` and `^...$` as patterns.
    return (
        key in tags.struct.fields
        and tags.struct.unnest().get_column(key).null_count() < frame.height
    )


def _frame(rows: Sequence[Any]) -> pl.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(_SELECTED) + 2)
    at_us, *selected, tags = columns
    data: dict[str, pl.Series] = {
        "at": pl.Series("at", at_us, pl.Int64).cast(CALL_SCHEMA["at"]),
    }
    for name, values in zip(_SELECTED, selected, strict=True):
        dtype = CALL_SCHEMA[name]
        if dtype == MONEY:
            # pico-USD integer x 1e-12, in Decimal arithmetic: exact, no float on the way.
            pico = pl.Series(name, values, pl.Int64).cast(pl.Decimal(38, 0))
            data[name] = pico * _PICO
        elif name == "raw_usage":
            # A NULL written through SQLAlchemy's JSON type is stored as JSON 'null'.
            data[name] = pl.Series(name, [None if v == "null" else v for v in values], dtype)
        else:
            data[name] = pl.Series(name, values, dtype)
    data["tags"] = _tags(pl.Series("tags", tags, pl.String))
    return pl.DataFrame(data).select(_ORDER)


def _tags(texts: pl.Series) -> pl.Series:
    if texts.is_empty():
        return pl.Series("tags", [], pl.Struct([]))
    decoded = texts.str.json_decode(infer_schema_length=None)  # fields: the union of keys
    # Sorted fields: the same frame on every database (PostgreSQL's JSONB reorders keys).
    fields = sorted(decoded.struct.fields)
    if not fields:  # no row has a tag
        return pl.Series("tags", [{}] * len(texts), pl.Struct([]))
    # `by_name`: exact names, in this order; `pl.col` reads `*` and `^...$` as patterns.
    return decoded.struct.unnest().select(cs.by_name(fields)).cast(pl.String).to_struct("tags")
