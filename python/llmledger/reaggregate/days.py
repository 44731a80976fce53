"""A day of the daily rollup: the ledger's calls of that day summed by group, plus the sums of
the day's calls that `llmledger prune` deleted (`llmledger_pruned_rollup`).

One definition, used by the nightly job when it recomputes a day and by the prune when it
finishes one, so a day is rolled up the same way before and after its calls are pruned, and
late calls landing in a pruned day are counted beside the pruned sums, never instead of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, delete, func, insert, select

from ..store.derived import backfill, daily_models, daily_rollup, pruned_rollup
from ..store.schema import BUCKETS, calls
from .backfill import DAY_US

__all__ = ["EPOCH", "SUMMED", "add_groups", "day_groups", "group_sums", "recompute_day"]

EPOCH = dt.date(1970, 1, 1)
SUMMED = (
    "calls",
    "unpriced_calls",
    "backfilled_calls",
    *BUCKETS,
    "cost",
    "backfilled_cost",
    "latency_calls",
)
"""Integer sums of a rollup row (beside them: `latency_ms_sum`, and `latency_ms_max`)."""

_MODEL_KEYS = ("day", "provider", "model", "pricing_mode")
"""The daily models table's keys: the daily rollup's, without the tags."""

Groups = dict[tuple[dt.date, str], dict[str, Any]]  # (day, group_key) -> rollup row


def group_sums(conn: Connection, where: ColumnElement[bool], keys: tuple[str, ...]) -> Groups:
    """The ledger's calls matching `where`, summed by the database per UTC day and group
    (provider, model, pricing mode and the tags `keys`)."""
    tags = [calls.c.tags[k].as_string().label(f"tag{i}") for i, k in enumerate(keys)]
    day_of = (calls.c.at_us // DAY_US).label("day_number")
    recorded_unpriced = and_(calls.c.cost.is_(None), backfill.c.call_id.is_(None))
    query = (
        select(
            day_of,
            calls.c.provider,
            calls.c.model,
            calls.c.pricing_mode,
            *tags,
            func.count().label("calls"),
            func.sum(case((recorded_unpriced, 1), else_=0)).label("unpriced_calls"),
            func.count(backfill.c.call_id).label("backfilled_calls"),
            *(func.sum(calls.c[b]).label(b) for b in BUCKETS),
            func.sum(calls.c.cost).label("cost"),
            func.sum(backfill.c.cost).label("backfilled_cost"),
            func.sum(calls.c.latency_ms).label("latency_ms_sum"),
            func.count(calls.c.latency_ms).label("latency_calls"),
            func.max(calls.c.latency_ms).label("latency_ms_max"),
        )
        .select_from(calls.outerjoin(backfill, backfill.c.call_id == calls.c.id))
        .where(where)
        .group_by(day_of, calls.c.provider, calls.c.model, calls.c.pricing_mode, *tags)
    )
    groups: Groups = {}
    for r in conn.execute(query).mappings():
        tag_values = {k: r[f"tag{i}"] for i, k in enumerate(keys)}
        identity = json.dumps(
            [r["provider"], r["model"], r["pricing_mode"], tag_values], ensure_ascii=False
        )
        row = {
            "day": EPOCH + dt.timedelta(days=int(r["day_number"])),
            "group_key": hashlib.sha256(identity.encode()).hexdigest(),
            "provider": r["provider"],
            "model": r["model"],
            "pricing_mode": r["pricing_mode"],
            "tags": tag_values,
            # Sums come back as Decimal on PostgreSQL and MySQL, NULL over no value.
            **{c: int(r[c] or 0) for c in SUMMED},
            "latency_ms_sum": float(r["latency_ms_sum"] or 0.0),
            "latency_ms_max": None if r["latency_ms_max"] is None else float(r["latency_ms_max"]),
        }
        groups[row["day"], row["group_key"]] = row
    return groups


def add_groups(into: Groups, rows: Iterable[dict[str, Any]]) -> Groups:
    """Add rollup `rows` to `into`, group by group: sums added, the latency maximum kept."""
    for row in rows:
        held = into.get((row["day"], row["group_key"]))
        if held is None:
            into[row["day"], row["group_key"]] = dict(row)
            continue
        for column in (*SUMMED, "latency_ms_sum"):
            held[column] += row[column]
        maxima = [m for m in (held["latency_ms_max"], row["latency_ms_max"]) if m is not None]
        held["latency_ms_max"] = max(maxima, default=None)
    return into


def day_groups(conn: Connection, day: int, max_id: int, keys: tuple[str, ...]) -> Groups:
    """Day `day`'s rollup rows (days since the epoch): its pruned sums plus the ledger's calls
    of that day up to id `max_id`."""
    start = day * DAY_US
    ledger = group_sums(
        conn,
        and_(calls.c.at_us >= start, calls.c.at_us < start + DAY_US, calls.c.id <= max_id),
        keys,
    )
    date = EPOCH + dt.timedelta(days=day)
    pruned = conn.execute(select(pruned_rollup).where(pruned_rollup.c.day == date)).mappings()
    return add_groups(ledger, pruned)


def recompute_day(conn: Connection, day: int, max_id: int, keys: tuple[str, ...]) -> None:
    """Replace day `day`'s rows of the daily rollup with `day_groups`, and its rows of the
    daily models table with their sums over the tags, in `conn`'s transaction."""
    date = EPOCH + dt.timedelta(days=day)
    conn.execute(delete(daily_rollup).where(daily_rollup.c.day == date))
    rows = list(day_groups(conn, day, max_id, keys).values())
    if rows:
        conn.execute(insert(daily_rollup), rows)
    conn.execute(delete(daily_models).where(daily_models.c.day == date))
    model_keys = [daily_rollup.c[k] for k in _MODEL_KEYS]
    summed = [func.sum(daily_rollup.c[c]) for c in (*SUMMED, "latency_ms_sum")]
    models = (
        select(*model_keys, *summed, func.max(daily_rollup.c.latency_ms_max))
        .where(daily_rollup.c.day == date)
        .group_by(*model_keys)
    )
    columns = [*_MODEL_KEYS, *SUMMED, "latency_ms_sum", "latency_ms_max"]
    conn.execute(insert(daily_models).from_select(columns, models))
