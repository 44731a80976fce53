"""Reading the ledger into a Polars DataFrame, one row per call, money exact.

Costs are stored as pico-USD integers; they come out as Polars Decimal(38, 12) USD, built from
the integers with Python's Decimal (exact scaling, never through a float).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Engine, LargeBinary, cast, select

from .schema import BUCKETS, COST_COLUMNS, calls

__all__ = ["CALL_SCHEMA", "read_calls", "to_us"]

MONEY = pl.Decimal(38, 12)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PRICE_COLUMNS = (
    "price_snapshot_id",
    "price_source",
    "price_provider",
    "price_model",
    "price_version",
    "price_variant",
    "price_tier",
)

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
    **dict.fromkeys(_PRICE_COLUMNS, pl.String),
    "price_tier": pl.Int64,
    # `tags` is a Struct of strings whose fields are the union of the keys read.
    "raw_usage": pl.String,
}
"""Column names and types of `read_calls`' frame (``tags`` aside, whose fields vary)."""

_SELECTED = [name for name in CALL_SCHEMA if name != "at"]
_ORDER = [*(name for name in CALL_SCHEMA if name != "raw_usage"), "tags", "raw_usage"]


def to_us(moment: datetime | date | str) -> int:
    """Microseconds since the epoch, UTC, exactly: naive datetimes are UTC, a date is its
    midnight UTC, a string is ISO 8601 (a date or a datetime)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _usd(pico: int | None) -> Decimal | None:
    return None if pico is None else Decimal(pico).scaleb(-12)


def _tag_text(value: Any) -> str | None:
    # Tags are stored as strings; anything else written by hand reads back as its JSON.
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def read_calls(
    engine: Engine,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    **tag_filters: str,
) -> pl.DataFrame:
    """The ledger's calls from `since` (inclusive) to `until` (exclusive), oldest first.

    Times are datetimes (naive means UTC), dates (midnight UTC) or ISO 8601 strings. Each
    keyword filters on a tag, compared as a string in SQL: ``read_calls(e, tenant="acme")``.

    Columns: ``at`` (Datetime us, UTC), provider, model, the eight token buckets (Int64),
    ``cost`` and ``cost_*`` (Decimal(38, 12) USD, null when unpriced), pricing_mode,
    usage_source, status, http_status, latency_ms, provider_response_id, event_id, the
    ``price_*`` rule columns, ``tags`` (Struct of strings over the union of keys, null where
    a row lacks one; no fields when no row has tags) and ``raw_usage`` (JSON text). An empty
    ledger gives an empty frame with these columns.
    """
    query = select(calls.c.at_us, *(calls.c[name] for name in _SELECTED), calls.c.tags)
    if since is not None:
        query = query.where(calls.c.at_us >= to_us(since))
    if until is not None:
        query = query.where(calls.c.at_us < to_us(until))
    for key, value in tag_filters.items():
        tag = calls.c.tags[key].as_string()
        if engine.dialect.name == "mysql":
            # MySQL/MariaDB collations pad with spaces ('acme ' = 'acme'): compare bytes.
            query = query.where(cast(tag, LargeBinary) == str(value).encode())
        else:
            query = query.where(tag == str(value))
    query = query.order_by(calls.c.at_us, calls.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return _frame(rows)


def _frame(rows: list[Any]) -> pl.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(_SELECTED) + 2)
    at_us, *selected, tags = columns
    data: dict[str, pl.Series] = {
        "at": pl.Series("at", at_us, pl.Int64).cast(CALL_SCHEMA["at"]),
    }
    for name, values in zip(_SELECTED, selected, strict=True):
        dtype = CALL_SCHEMA[name]
        if dtype == MONEY:
            values = [_usd(v) for v in values]
        elif name == "raw_usage":
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
        data[name] = pl.Series(name, values, dtype)
    keys = sorted({key for row_tags in tags for key in row_tags})
    tag_type = pl.Struct(dict.fromkeys(keys, pl.String))
    data["tags"] = pl.Series(
        "tags",
        [{key: _tag_text(row_tags.get(key)) for key in keys} for row_tags in tags],
        tag_type,
    )
    return pl.DataFrame(data).select(_ORDER)
