"""The data-quality page: what the ledger cannot price or vouch for, and what it would take.

- unpriced calls by model, each with the override entry that would price it;
- estimated streams (usage counted from the text, the provider sent none);
- calls without any tag (nobody to charge them to);
- failed and interrupted calls, and what they cost;
- the catalog's age: the price catalog in use and the snapshots the ledger's costs came from;
- drift: the recorded cost of each model against today's catalog's price for the same calls.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from ..analytics import rollup
from ..pricing import build_pricer
from ..store.schema import price_snapshots
from .filters import Filters
from .queries import Totals, summed, totals

__all__ = ["Quality", "override_for", "quality"]

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Quality:
    unpriced: pl.DataFrame
    """provider, model, unpriced_calls, override (a JSON entry for `price_overrides`)."""
    estimated: Totals
    untagged: Totals | None
    """None when no call of the range has a tag at all (then every call is untagged)."""
    statuses: pl.DataFrame
    """status, calls, cost: every status but `ok`."""
    catalog: dict[str, Any]
    drift: pl.DataFrame
    """provider, model, calls, cost, repriced_cost, cost_difference; largest drift first."""


def override_for(provider: str, model: str) -> str:
    """The `price_overrides` entry that would price `model` (prices to fill in)."""
    entry = {
        "provider": provider,
        "model": model,
        "prices": {"input_mtok": "…", "output_mtok": "…"},
    }
    return json.dumps(entry, ensure_ascii=False)


def quality(engine: Engine, f: Filters, tag_keys: list[str]) -> Quality:
    """The quality page's figures for `f`'s range and filters; `tag_keys`: the range's.

    One rollup by provider, model, status and usage source, re-priced, gives the unpriced
    models, the estimated streams, the failed calls and the drift (all sums of its rows); the
    calls without tags are a second one."""
    where = f.where()
    rows = rollup(
        engine,
        by=["provider", "model", "status", "usage_source"],
        since=f.since,
        until=f.until,
        where=where,
        reprice=True,
        latency="mean",
    )
    drift = (
        summed(rows, ["provider", "model"])
        .filter(pl.col("cost_difference").is_not_null() & (pl.col("cost_difference") != 0))
        .with_columns(size=pl.col("cost_difference").abs())
        .sort(["size", "provider", "model"], descending=[True, False, False])
        .select("provider", "model", "calls", "cost", "repriced_cost", "cost_difference")
    )
    unpriced = (
        summed(rows.filter(pl.col("status") == "ok"), ["provider", "model"])
        .filter(pl.col("unpriced_calls") > 0)
        .sort(["unpriced_calls", "provider", "model"], descending=[True, False, False])
        .select("provider", "model", "unpriced_calls")
    )
    unpriced = unpriced.with_columns(
        override=pl.Series(
            [override_for(p, m) for p, m in unpriced.select("provider", "model").iter_rows()],
            dtype=pl.String,
        )
    )
    untagged = None
    missing = {k: None for k in tag_keys if k not in where}
    if tag_keys and len(missing) == len(tag_keys):
        # Without any tag: None for every key the range has.
        untagged = totals(
            rollup(engine, since=f.since, until=f.until, where={**where, **missing}, latency="mean")
        )
    statuses = (
        summed(rows.filter(pl.col("status") != "ok"), ["status"])
        .sort(["calls", "status"], descending=[True, False])
        .select("status", "calls", "unpriced_calls", "cost")
    )
    return Quality(
        unpriced=unpriced,
        estimated=totals(rows.filter(pl.col("usage_source") == "estimated")),
        untagged=untagged,
        statuses=statuses,
        catalog=_catalog(engine),
        drift=drift,
    )


def _catalog(engine: Engine) -> dict[str, Any]:
    """The catalog in use (its newest dated price) and the snapshots the ledger stores."""
    pricer = build_pricer()
    days = [
        v["when"]["from_day"]
        for m in pricer.spec["models"]
        for v in m["versions"]
        if v.get("when") and "from_day" in v["when"]
    ]
    query = select(
        func.count(),
        func.min(price_snapshots.c.created_at_us),
        func.max(price_snapshots.c.created_at_us),
    )
    with engine.connect() as connection:
        stored, first_us, last_us = connection.execute(query).one()

    def day_of(us: int | None) -> dt.date | None:
        return None if us is None else _EPOCH + dt.timedelta(microseconds=us)

    newest = _EPOCH + dt.timedelta(days=max(days)) if days else None
    return {
        "source": pricer.source,
        "models": len(pricer.spec["models"]),
        "newest_price": newest,
        # A catalog may know a price change to come: its age is then 0 days, not negative.
        "age_days": None
        if newest is None
        else max(0, (dt.datetime.now(dt.UTC).date() - newest).days),
        "snapshots": stored,
        "first_snapshot": day_of(first_us),
        "last_snapshot": day_of(last_us),
    }
