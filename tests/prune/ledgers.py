"""Ledgers for the prune tests, and every table a prune touches read back whole to compare."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from analytics.sql_rows import D0, DAY_US, insert_rows, random_rows
from sqlalchemy import select

from llmledger import prune, reaggregate
from llmledger.pricing import build_pricer
from llmledger.store.derived import backfill, daily_rollup, pruned_before_us, pruned_rollup
from llmledger.store.schema import calls

# The house model of `random_rows` is not in the catalog: priced late by the nightly job.
HOUSE = {
    "models": [
        {
            "provider": "acme-gateway",
            "model": "house-model",
            "prices": {"input_mtok": "1.25", "output_mtok": "5"},
        }
    ]
}
PRICER = build_pricer(HOUSE)
HORIZON = dt.date(2026, 1, 4)  # three of the six days of `ledger()` before it
HORIZON_US = (D0 + 3) * DAY_US


def ledger(engine, n: int = 300, seed: int = 4) -> list[dict[str, Any]]:
    """`n` random calls over six days from 2026-01-01, then a newest one on the last day (so
    the ledger's newest call by id is never one a prune must keep), rolled up."""
    rows = random_rows(n, seed=seed, days=6)
    (newest,) = random_rows(1, seed=seed + 1, first_event=n)
    rows.append({**newest, "at_us": (D0 + 5) * DAY_US + 1})
    insert_rows(engine, rows)
    job(engine)
    return rows


def job(engine, **kwargs):
    return reaggregate(engine, pricer=PRICER, progress=io.StringIO(), **kwargs)


def cut(engine, **kwargs):
    return prune(engine, **{"before": HORIZON, "progress": io.StringIO(), **kwargs})


def rows_of(engine, table) -> list[tuple]:
    with engine.connect() as connection:
        query = select(table).order_by(table.c.day, table.c.group_key)
        return [tuple(r) for r in connection.execute(query)]


def snapshot(engine) -> dict[str, Any]:
    """Every table a prune or the nightly job writes, by value (calls by event id)."""
    with engine.connect() as connection:
        events = sorted(connection.execute(select(calls.c.event_id)).scalars())
        backfilled = sorted(
            connection.execute(
                select(calls.c.event_id, backfill.c.cost).join(
                    backfill, backfill.c.call_id == calls.c.id
                )
            ).all()
        )
        horizon = pruned_before_us(connection)
    return {
        "events": events,
        "backfilled": backfilled,
        "daily": rows_of(engine, daily_rollup),
        "pruned": rows_of(engine, pruned_rollup),
        "horizon": horizon,
    }
