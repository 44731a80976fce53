"""Reading the ledger into a Polars DataFrame, one row per call, money exact.

Costs are stored as pico-USD integers; they come out as Polars Decimal(38, 12) USD, built from
the integers with Python's Decimal (exact scaling, never through a float).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import Engine, LargeBinary, String, Text, cast, select

from .schema import BUCKETS, COST_COLUMNS, LEDGER_COLUMNS, calls

__all__ = ["CALL_SCHEMA", "read_calls", "to_us"]

MONEY = pl.Decimal(38, 12)
_PICO = pl.Series([Decimal("1e-12")], dtype=pl.Decimal(38, 12))
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
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            raise ValueError(f"{moment!r} is not an ISO 8601 date or date-time") from None
    elif not isinstance(moment, date):
        raise TypeError(
            f"a time is a datetime, a date or an ISO 8601 string, not {type(moment).__name__}"
        )
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


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
    ``price_*`` rule columns, ``tags`` (Struct of strings over the union of keys, null where
    a row lacks one; no fields when no row has tags) and ``raw_usage`` (JSON text). An empty
    ledger gives an empty frame with these columns.
    """
    # JSON columns come as text: Polars decodes them in bulk, far faster than row by row.
    columns = [cast(calls.c[n], Text) if n == "raw_usage" else calls.c[n] for n in _SELECTED]
    query = select(calls.c.at_us, *columns, cast(calls.c.tags, Text))
    if since is not None:
        query = query.where(calls.c.at_us >= to_us(since))
    if until is not None:
        query = query.where(calls.c.at_us < to_us(until))
    for key, value in filters.items():
        expr = calls.c[key] if key in LEDGER_COLUMNS else calls.c.tags[key].as_string()
        if value is None:
            query = query.where(expr.is_(None))
        elif engine.dialect.name == "mysql":
            # MySQL/MariaDB collations pad with spaces ('acme ' = 'acme'): compare bytes.
            query = query.where(cast(expr, LargeBinary) == str(value).encode())
        else:
            # Numbers (http_status=500) compare as text too; strings as they are.
            text = expr if isinstance(expr.type, String) else cast(expr, Text)
            query = query.where(text == str(value))
    query = query.order_by(calls.c.at_us, calls.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return _frame(rows)


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
    return (
        decoded.struct.unnest()
        .select(pl.struct(pl.col(fields).cast(pl.String)).alias("tags"))
        .to_series()
    )
