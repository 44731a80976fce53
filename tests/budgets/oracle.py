"""The spend totals a ledger should have, computed naively from its rows, to compare with
`llmledger_spend_totals`: local dates from `zoneinfo`, one row and one scope at a time."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import select

from llmledger.pricing import build_pricer
from llmledger.store.derived import backfill
from llmledger.store.schema import calls
from llmledger.store.totals import TotalsSpec, spend_totals

Key = tuple[str, str, tuple, str | None, str | None]  # period, local start date, tags, p, m


def local_start(at_us: int, period: str, zone: ZoneInfo) -> dt.date:
    day = dt.datetime.fromtimestamp(at_us // 1_000_000, zone).date()
    if period == "day":
        return day
    if period == "week":
        year, week, _ = day.isocalendar()
        return dt.date.fromisocalendar(year, week, 1)
    return dt.date(day.year, day.month, 1)


def expected(engine, spec: TotalsSpec) -> dict[Key, tuple[int, int, int]]:
    """What the totals of `spec` should hold, from the ledger and its backfilled prices."""
    zone = ZoneInfo(spec.tz)
    query = select(
        calls.c.at_us, calls.c.provider, calls.c.model, calls.c.tags, calls.c.cost, backfill.c.cost
    ).select_from(calls.outerjoin(backfill, backfill.c.call_id == calls.c.id))
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    groups = [()] + [(k,) if isinstance(k, str) else tuple(sorted(k)) for k in spec.tag_keys]
    narrowings = [(False, False)] + ([(True, False), (True, True)] if spec.models else [])
    pricer = build_pricer()  # a model is kept under the name of the catalog entry pricing it
    for at_us, provider, model, tags, cost, backfilled in rows:
        cost = cost if cost is not None else backfilled
        for group in groups:
            if any(k not in tags for k in group):
                continue
            scope = tuple((k, tags[k]) for k in group)
            for by_provider, by_model in narrowings:
                for period in spec.periods:
                    start = local_start(at_us, period, zone).isoformat()
                    key = (
                        period,
                        start,
                        scope,
                        provider if by_provider else None,
                        (pricer.model_id(provider, model) or model) if by_model else None,
                    )
                    sums[key][0] += 1
                    sums[key][1] += cost or 0
                    sums[key][2] += cost is None
    return {k: tuple(v) for k, v in sums.items()}


def stored(engine, spec: TotalsSpec) -> dict[Key, tuple[int, int, int]]:
    """`llmledger_spend_totals` keyed as `expected` keys it."""
    zone = ZoneInfo(spec.tz)
    with engine.connect() as connection:
        rows = connection.execute(select(spend_totals)).mappings().all()
    out = {}
    for r in rows:
        start = dt.datetime.fromtimestamp(r["start_us"] // 1_000_000, zone)
        assert start.time() == dt.time(0), r  # a period starts at local midnight
        scope = tuple(sorted(r["tags"].items()))
        key = (r["period"], start.date().isoformat(), scope, r["provider"], r["model"])
        out[key] = (r["calls"], r["cost"], r["unpriced_calls"])
    return out
