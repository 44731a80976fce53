"""Small generated ledgers and price histories for the analytics tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from llmledger import BUCKETS
from llmledger.pricing import Pricer

from .reference import DAY_US, at

D0 = 20_454
"""2026-01-01, days since the epoch: the day the generated price changes happen around."""


def pricer(models: list[dict[str, Any]], discount_ppm: int = 0) -> Pricer:
    """A pricer over a hand-made catalog: provider `p0` with `models` (name, versions,
    variants, in the compiled spec's shape), mode `batch`, an optional discount."""
    spec = {
        "format": 1,
        "source": "test",
        "modes": ["batch"],
        "providers": [{"id": "p0", "match": None, "fallback": [], "models": [0, len(models)]}],
        "models": [
            {
                "provider": "p0",
                "id": m["name"],
                "name": None,
                "source": "catalog",
                "match": ["eq", m["name"]],
                "versions": [
                    {"when": v["when"], "label": str(i), "rates": v["rates"]}
                    for i, v in enumerate(m["versions"])
                ],
                "variants": m.get("variants", []),
            }
            for m in models
        ],
        "rounded_rates": 0,
        "overrides": {"models": [], "discounts": {"p0": discount_ppm} if discount_ppm else {}},
    }
    return Pricer(spec)


def frame(
    rows: list[dict[str, Any]], tag_keys: tuple[str, ...] = ("feature", "tenant")
) -> pl.DataFrame:
    """A frame shaped like `llmledger.calls()` from rows of `at_us`, provider, model, mode,
    tokens (8), cost (pico-USD or None), latency and tags (a dict, keys may be missing)."""
    tag_type = pl.Struct(dict.fromkeys(tag_keys, pl.String))
    return pl.DataFrame(
        {
            "at": pl.Series([at(r["at_us"]) for r in rows], dtype=pl.Datetime("us", "UTC")),
            "provider": pl.Series([r["provider"] for r in rows], dtype=pl.String),
            "model": pl.Series([r["model"] for r in rows], dtype=pl.String),
            **{
                b: pl.Series([r["tokens"][i] for r in rows], dtype=pl.Int64)
                for i, b in enumerate(BUCKETS)
            },
            "cost": pl.Series(
                [None if r["cost"] is None else Decimal(r["cost"]).scaleb(-12) for r in rows],
                dtype=pl.Decimal(38, 12),
            ),
            "pricing_mode": pl.Series([r["mode"] for r in rows], dtype=pl.String),
            "latency_ms": pl.Series([r["latency"] for r in rows], dtype=pl.Float64),
            "tags": pl.Series(
                [{k: r["tags"].get(k) for k in tag_keys} for r in rows], dtype=tag_type
            ),
        }
    )


def ts(day: int, seconds: int = 0, micros: int = 0) -> int:
    """Microseconds since the epoch of a day (since the epoch) plus a time."""
    return day * DAY_US + seconds * 1_000_000 + micros


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
