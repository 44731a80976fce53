"""Ledger rows built by hand for the storage tests, and queries to check what was stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from llmledger.store.schema import BUCKETS, COST_COLUMNS, calls

# 2026-11-27 12:00:00.123456 UTC
T0 = 1_795_780_800_123_456


def make_row(n: int, **overrides: Any) -> dict[str, Any]:
    """A complete, priced ledger row; `n` makes event_id and at_us unique."""
    row: dict[str, Any] = {
        "event_id": f"ev{n:030d}",
        "at_us": T0 + n,
        "provider": "openai",
        "model": "gpt-4o",
        **dict.fromkeys(BUCKETS, 0),
        "input_tokens": 1000 + n,
        "output_tokens": 20,
        "cost": 2_500_000_000 * (1000 + n) + 10_000_000_000 * 20,
        **dict.fromkeys(COST_COLUMNS, 0),
        "cost_input": 2_500_000_000 * (1000 + n),
        "cost_output": 10_000_000_000 * 20,
        "pricing_mode": "standard",
        "usage_source": "response",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 812.5,
        "provider_response_id": f"resp_{n}",
        "price_snapshot_id": "a" * 64,
        "price_source": "catalog",
        "price_provider": "openai",
        "price_model": "gpt-4o",
        "price_version": "2024-08-06",
        "price_variant": "standard",
        "price_tier": 0,
        "tags": {"feature": "chat", "tenant": "acme"},
        "raw_usage": {"prompt_tokens": 1000 + n, "completion_tokens": 20},
    }
    row.update(overrides)
    return row


def event_ids(engine) -> list[str]:
    """The ledger's event ids, sorted, with repeats (a duplicate would show twice)."""
    with engine.connect() as connection:
        return sorted(connection.execute(select(calls.c.event_id)).scalars())


def row_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(calls)).scalar_one()
