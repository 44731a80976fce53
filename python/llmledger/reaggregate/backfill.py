"""Pricing calls that were recorded unpriced, now that a price exists.

The recorded row keeps its NULL cost: the price found later goes to `llmledger_backfill`, with
the snapshot and rule that produced it, so every number stays explainable.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, cast

from sqlalchemy import Connection, and_, exists, select, tuple_

from ..pricing import Pricer, PriceRule
from ..store.derived import backfill
from ..store.schema import BUCKETS, calls

__all__ = ["DAY_US", "price_unpriced"]

DAY_US = 86_400_000_000


def price_unpriced(
    conn: Connection, pricer: Pricer, max_id: int
) -> dict[int, list[dict[str, Any]]]:
    """Backfill rows for every successful call up to `max_id` that was recorded unpriced,
    has no backfill yet, and that `pricer` can price now; grouped by UTC day (days since the
    epoch). Nothing is written here."""
    unpriced = and_(calls.c.cost.is_(None), calls.c.status == "ok", calls.c.id <= max_id)
    pairs = conn.execute(
        select(calls.c.provider, calls.c.model)
        .where(unpriced)
        .group_by(calls.c.provider, calls.c.model)
    ).all()
    resolved = {(p, m): r for p, m in pairs if (r := pricer.resolve(p, m)) is not None}
    by_day: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not resolved:
        return by_day
    query = select(
        calls.c.id,
        calls.c.at_us,
        calls.c.provider,
        calls.c.model,
        calls.c.pricing_mode,
        *(calls.c[b] for b in BUCKETS),
    ).where(
        unpriced,
        tuple_(calls.c.provider, calls.c.model).in_(list(resolved)),
        ~exists().where(backfill.c.call_id == calls.c.id),
    )
    now_us = time.time_ns() // 1000
    for row in conn.execute(query):
        tokens = tuple(row[5:])
        priced = pricer.price(
            resolved[row.provider, row.model], row.at_us, row.pricing_mode, tokens
        )
        if priced is None:  # only an override prices the model, and the call predates it
            continue
        rule = cast(PriceRule, priced.rule)  # None only for failed calls, not selected
        by_day[row.at_us // DAY_US].append(
            {
                "call_id": row.id,
                "at_us": row.at_us,
                "cost": priced.total,
                "price_snapshot_id": rule.snapshot_id,
                "price_source": rule.source,
                "price_provider": rule.provider,
                "price_model": rule.model,
                "price_version": rule.version,
                "price_variant": rule.variant,
                "price_tier": rule.tier,
                "backfilled_at_us": now_us,
            }
        )
    return by_day
