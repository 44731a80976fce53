"""Random ledger rows written to a real database, for the SQL-path and reaggregate tests."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Engine, insert

from llmledger.store.schema import BUCKETS, COST_COLUMNS, calls

DAY_US = 86_400_000_000
D0 = 20_454  # 2026-01-01
TAG_VALUES = {
    "feature": ["chat", "search", "résumé", "检索", None],
    "tenant": ["acme", "globex", "initech", "Ünïcode ☃", None],
    "user_id": ["u1", "u2", "u3"],
}
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("acme-gateway", "house-model"),  # not in the catalog: recorded unpriced
]


def random_rows(n: int, seed: int, first_event: int = 0, days: int = 5) -> list[dict[str, Any]]:
    """`n` rows over `days` days from 2026-01-01: some unpriced (NULL cost), some without
    latency, tags missing on some rows, Unicode values."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        tokens = {b: (rng.randrange(0, 5000) if rng.random() < 0.5 else 0) for b in BUCKETS}
        unpriced = model == "house-model"
        tags = {k: v for k, values in TAG_VALUES.items() if (v := rng.choice(values)) is not None}
        rows.append(
            {
                "event_id": f"ev{first_event + i:030d}",
                "at_us": (D0 + rng.randrange(days)) * DAY_US + rng.randrange(DAY_US),
                "provider": provider,
                "model": model,
                **tokens,
                "cost": None if unpriced else rng.randrange(0, 10**11),
                **dict.fromkeys(COST_COLUMNS),
                "pricing_mode": rng.choice(["standard", "standard", "batch"]),
                "usage_source": "response",
                "status": "ok",
                "latency_ms": None if rng.random() < 0.2 else rng.randrange(1, 10**6) / 8,
                "tags": tags,
            }
        )
    return rows


def insert_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(calls), rows)
