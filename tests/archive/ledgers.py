"""A ledger that the nightly job archives, then changes: late calls into archived days,
backfilled calls, a tag key that appears only later."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
from analytics.sql_rows import insert_rows, random_rows

from llmledger.analytics.source import Query
from llmledger.pricing import build_pricer
from llmledger.reaggregate import Summary, reaggregate

HOUSE = {
    "models": [
        {
            "provider": "acme-gateway",
            "model": "house-model",
            "prices": {"input_mtok": "1.25", "output_mtok": "5"},
        }
    ]
}
CATALOG = build_pricer()
PRICED_LATER = build_pricer(HOUSE)


def run(engine, archive: str, pricer=CATALOG, **kwargs: Any) -> Summary:
    """One run of the nightly job writing the archive at `archive`."""
    return reaggregate(engine, pricer=pricer, progress=io.StringIO(), archive=archive, **kwargs)


def later_rows(n: int, first_event: int, seed: int = 7) -> list[dict[str, Any]]:
    """Rows recorded after the first run: dated on the days it archived (late calls), some
    with a tag key no earlier call has (`region`)."""
    rows = random_rows(n, seed=seed, first_event=first_event, days=3)
    for i, row in enumerate(rows):
        if i % 3:
            row["tags"] = {**row["tags"], "region": ["eu", "us", "ap"][i % 3]}
    return rows


def archive_then_change(engine, archive: str) -> tuple[Summary, Summary]:
    """Archive 300 calls over 5 days, then add 60 late ones (some with a new tag) and price
    the unpriced ones, and archive again."""
    insert_rows(engine, random_rows(300, seed=3))
    first = run(engine, archive)
    insert_rows(engine, later_rows(60, first_event=300))
    second = run(engine, archive, pricer=PRICED_LATER)
    return first, second


def by_id(batches, schema: pa.Schema) -> list[dict[str, Any]]:
    """Batches as rows sorted by id (both readers give them in no particular order)."""
    table = pa.Table.from_batches(list(batches), schema)
    return sorted(table.to_pylist(), key=lambda r: r["id"])


QUERIES = [
    Query(
        columns=["id", "at_us", "provider", "model", "cost", "latency_ms", "event_id"],
        tags=["feature", "tenant", "region", "never_set"],
        backfilled=True,
    ),
    Query(
        columns=["id", "cost", "input_tokens", "pricing_mode", "http_status", "price_tier"],
        tags=["tenant"],
        since_us=20_455 * 86_400_000_000 + 3_600_000_000,  # mid-day
        until_us=20_457 * 86_400_000_000 + 7_200_000_000,
        backfilled=True,
    ),
    Query(columns=["id", "cost"], tags=["region"], where={"tenant": "acme", "feature": None}),
    Query(columns=["id", "model"], where={"region": "eu", "pricing_mode": "batch"}),
    Query(columns=["id"], where={"never_set": None, "provider": "openai"}),
    Query(columns=["id"], where={"never_set": "x"}),
    Query(columns=["id", "status"], where={"status": "ok", "http_status": None}),
    Query(columns=["id"], where={"input_tokens": "0"}),
    Query(columns=["id"], where={"input_tokens": "00"}),  # text: no integer's
]
