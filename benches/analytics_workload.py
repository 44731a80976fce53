"""The analytics benchmark's workload and the three engines that do its work.

N usage rows over 90 days, oldest first (as `llmledger.calls()` returns them): 5 providers,
200 models with 1-6 dated price versions each (10% with a 200k-token tier, all with a batch
variant), 2% of calls to models without a price, 50 features, 10,000 Zipf-skewed tenants,
1,000,000 users. Strings are built per row (as read from a database), not shared.

The work, identical for every engine: re-price every call against the price version in force
at its time for its model and mode (tier and variant selected), then totals per
(feature, tenant) and per (day, model): calls, unpriced calls, recorded cost, re-priced cost,
the eight token buckets, latency mean / p50 / p95 / max.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from llmledger import BUCKETS, analytics
from llmledger.pricing import Pricer

DAY_US = 86_400_000_000
START_DAY = 20_454  # 2026-01-01
DAYS = 90
PROVIDERS = 5
MODELS = 200
MODES = ("standard", "batch", "flex")
TIER = 200_000
# Buckets that count towards the tier threshold (input side), as the core's pricing does.
INPUT_SIDE = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "input_audio_tokens",
)
KEYS = {
    "input_tokens": "input_mtok",
    "cache_read_tokens": "cache_read_mtok",
    "cache_write_tokens": "cache_write_mtok",
    "cache_write_1h_tokens": "cache_write_1h_mtok",
    "output_tokens": "output_mtok",
    "reasoning_tokens": "output_reasoning_mtok",
    "input_audio_tokens": "input_audio_mtok",
    "output_audio_tokens": "output_audio_mtok",
}


def price_histories(seed: int = 1) -> list[dict[str, Any]]:
    """Per model: provider, name, versions (from_day or None, rate per bucket), tier rates."""
    rng = np.random.default_rng(seed)
    models = []
    for j in range(MODELS):
        days = sorted(rng.choice(np.arange(1, DAYS), size=int(rng.integers(0, 6)), replace=False))
        versions = []
        for day in [None, *days]:
            base = int(rng.integers(1, 200)) * 50_000  # $0.05 to $10 per MTok, in pico-USD/token
            rates = {
                "input_tokens": base,
                "cache_read_tokens": base // 10,
                "cache_write_tokens": base * 5 // 4,
                "cache_write_1h_tokens": base * 2,
                "output_tokens": base * 4,
                "reasoning_tokens": base * 4,
                "input_audio_tokens": base * 4,
                "output_audio_tokens": base * 8,
            }
            versions.append(
                {"from_day": None if day is None else START_DAY + int(day), "rates": rates}
            )
        models.append(
            {
                "provider": f"provider-{j % PROVIDERS}",
                "name": f"model-{j:03d}-20260101",
                "versions": versions,
                "tiered": j % 10 == 0,
            }
        )
    return models


def pricer(models: list[dict[str, Any]]) -> Pricer:
    """The catalog as llmledger compiles it: tiers on input and output, batch at half price."""

    def rate(m: dict, v: dict, bucket: str) -> dict:
        r = v["rates"][bucket]
        tiered = m["tiered"] and bucket in ("input_tokens", "output_tokens")
        return {
            "base": r,
            "tiers": [[TIER, r * 2 if bucket == "input_tokens" else r * 3 // 2]] if tiered else [],
        }

    spec_models = [
        {
            "provider": m["provider"],
            "id": m["name"],
            "name": None,
            "source": "catalog",
            "match": ["eq", m["name"]],
            "versions": [
                {
                    "when": None if v["from_day"] is None else {"from_day": v["from_day"]},
                    "label": str(i),
                    "rates": {KEYS[b]: rate(m, v, b) for b in BUCKETS},
                }
                for i, v in enumerate(m["versions"])
            ],
            "variants": [
                {
                    "mode": 0,
                    "when": None,
                    "rates": {"input_mtok": {"base": v["rates"]["input_tokens"] // 2}},
                }
                for v in m["versions"][:1]
            ],
        }
        for m in models
    ]
    order = sorted(range(MODELS), key=lambda j: (spec_models[j]["provider"], j))
    spec_models = [spec_models[j] for j in order]
    providers = []
    for p in range(PROVIDERS):
        idx = [i for i, m in enumerate(spec_models) if m["provider"] == f"provider-{p}"]
        providers.append(
            {"id": f"provider-{p}", "match": None, "fallback": [], "models": [idx[0], idx[-1] + 1]}
        )
    return Pricer(
        {
            "format": 1,
            "source": "bench",
            "modes": ["batch"],
            "providers": providers,
            "models": spec_models,
            "rounded_rates": 0,
            "overrides": {"models": [], "discounts": {}},
        }
    )


def rate_table(models: list[dict[str, Any]]) -> pl.DataFrame:
    """The same prices as one row per (provider, model, mode, version), each bucket's rate
    resolved and the tier rates beside: what the baselines join as of each call's time."""
    rows = []
    for m in models:
        batch_input = m["versions"][0]["rates"]["input_tokens"] // 2
        for v in m["versions"]:
            for mode in MODES:
                r = dict(v["rates"])
                tier_in = r["input_tokens"] * 2 if m["tiered"] else None
                tier_out = r["output_tokens"] * 3 // 2 if m["tiered"] else None
                if mode == "batch":
                    r["input_tokens"], tier_in = batch_input, None
                rows.append(
                    {
                        "provider": m["provider"],
                        "model": m["name"],
                        "pricing_mode": mode,
                        "from_us": -(2**62) if v["from_day"] is None else v["from_day"] * DAY_US,
                        **{f"r_{b}": r[b] for b in BUCKETS},
                        "tier_in": tier_in,
                        "tier_out": tier_out,
                    }
                )
    return pl.DataFrame(rows).sort("from_us")


def ledger(
    n: int,
    models: list[dict[str, Any]],
    seed: int = 2,
    span: tuple[int, int] = (START_DAY * DAY_US, (START_DAY + DAYS) * DAY_US),
) -> pl.DataFrame:
    """N calls shaped like `llmledger.calls()` (the columns the work reads), oldest first,
    made within `span` (µs since the epoch, the end excluded): by default the 90 days."""
    rng = np.random.default_rng(seed)
    at_us = np.sort(rng.integers(*span, n))
    model = rng.integers(0, MODELS, n)
    unknown = rng.random(n) < 0.02
    lognormal = lambda mu, sigma: rng.lognormal(mu, sigma, n).astype(np.int64)  # noqa: E731
    some = lambda p: rng.random(n) < p  # noqa: E731
    input_tokens = np.where(some(0.01), rng.integers(150_000, 400_000, n), lognormal(7.5, 1.2))
    tokens = {
        "input_tokens": input_tokens,
        "cache_read_tokens": np.where(some(0.3), input_tokens // 3, 0),
        "cache_write_tokens": np.where(some(0.1), lognormal(6, 1), 0),
        "cache_write_1h_tokens": np.where(some(0.02), lognormal(6, 1), 0),
        "output_tokens": lognormal(5.5, 1.0),
        "reasoning_tokens": np.where(some(0.2), lognormal(6, 1), 0),
        "input_audio_tokens": np.where(some(0.01), lognormal(6, 1), 0),
        "output_audio_tokens": np.where(some(0.01), lognormal(6, 1), 0),
    }
    cost = rng.integers(0, 10**10, n)
    cost_valid = ~some(0.03)
    # Decimal128(38, 12) USD built from pico-USD integers: the unscaled value *is* pico-USD.
    raw = np.zeros((n, 2), dtype=np.int64)
    raw[:, 0] = cost
    validity = pa.array(cost_valid).buffers()[1]
    cost_usd = pa.Array.from_buffers(
        pa.decimal128(38, 12),
        n,
        [validity, pa.py_buffer(raw.tobytes())],
        null_count=int(n - cost_valid.sum()),
    )
    tenants = np.arange(1, 10_001)
    zipf = 1 / tenants**1.1
    codes = pl.DataFrame(
        {
            "model_code": model,
            "unknown": unknown,
            "feature_code": rng.integers(0, 50, n),
            "tenant_code": rng.choice(tenants, n, p=zipf / zipf.sum()),
            "user_code": rng.integers(0, 1_000_000, n),
            "mode_code": rng.choice(3, n, p=[0.8, 0.15, 0.05]),
        }
    )
    text = pl.col("model_code").cast(pl.String)
    frame = codes.select(
        at=pl.Series(at_us).cast(pl.Datetime("us", "UTC")),
        # Per-row strings (concat), as a database driver returns them.
        provider=pl.concat_str(
            pl.lit("provider-"), (pl.col("model_code") % PROVIDERS).cast(pl.String)
        ),
        model=pl.when(pl.col("unknown"))
        .then(pl.concat_str(pl.lit("unknown-model-"), text))
        .otherwise(pl.concat_str(pl.lit("model-"), text.str.zfill(3), pl.lit("-20260101"))),
        **{b: pl.Series(v) for b, v in tokens.items()},
        cost=pl.from_arrow(cost_usd),
        pricing_mode=pl.concat_str(
            pl.lit(""),
            pl.col("mode_code").replace_strict(
                {0: "standard", 1: "batch", 2: "flex"}, return_dtype=pl.String
            ),
        ),
        latency_ms=pl.when(pl.lit(pl.Series(some(0.01))))
        .then(None)
        .otherwise(pl.Series(rng.lognormal(6.5, 0.8, n))),
        tags=pl.struct(
            feature=pl.concat_str(
                pl.lit("feature-"), pl.col("feature_code").cast(pl.String).str.zfill(2)
            ),
            tenant=pl.concat_str(
                pl.lit("tenant-"), pl.col("tenant_code").cast(pl.String).str.zfill(5)
            ),
            user=pl.concat_str(pl.lit("user-"), pl.col("user_code").cast(pl.String).str.zfill(7)),
        ),
    )
    return frame


def arriving_in_batches(n: int, models: list[dict[str, Any]], rows: int) -> pl.DataFrame:
    """N calls as they arrive in batches of `rows` (archive files, SQL pages, a stream): one
    frame per batch, each built on its own (its own buffers) over its own stretch of the 90
    days, concatenated without a copy into a frame of one chunk per batch, oldest first."""
    start, length = START_DAY * DAY_US, DAYS * DAY_US
    count = -(-n // rows)
    parts = [
        ledger(
            min(rows, n - k * rows),
            models,
            seed=3 + k,
            span=(start + length * k // count, start + length * (k + 1) // count),
        )
        for k in range(count)
    ]
    return pl.concat(parts, rechunk=False)


# --- the three engines -----------------------------------------------------------------

GROUPINGS = (["feature", "tenant"], ["day", "model"])


def run_llmledger(frame: pl.DataFrame, p: Pricer) -> list[pl.DataFrame]:
    prepared = analytics.prepare(frame)
    return [analytics.rollup(prepared, by=by, reprice=p) for by in GROUPINGS]


def _repriced(col: Any) -> Any:
    """Re-priced cost of a call from its joined rate row (shared by the Polars baseline)."""
    total_input = sum(col(b) for b in INPUT_SIDE)
    tier = total_input > TIER
    r_in = (
        pl.when(tier & pl.col("tier_in").is_not_null())
        .then(pl.col("tier_in"))
        .otherwise(pl.col("r_input_tokens"))
    )
    r_out = (
        pl.when(tier & pl.col("tier_out").is_not_null())
        .then(pl.col("tier_out"))
        .otherwise(pl.col("r_output_tokens"))
    )
    cost = col("input_tokens") * r_in + col("output_tokens") * r_out
    for b in BUCKETS:
        if b not in ("input_tokens", "output_tokens"):
            cost = cost + col(b) * pl.col(f"r_{b}")
    return cost


def _aggregates() -> list[Any]:
    lat = pl.col("latency_ms")
    return [
        pl.len().alias("calls"),
        pl.col("cost").null_count().alias("unpriced_calls"),
        pl.col("cost").sum(),
        *(pl.col(b).sum() for b in BUCKETS),
        pl.col("repriced_cost").sum(),
        pl.col("repriced_cost").null_count().alias("repriced_unpriced_calls"),
        lat.mean().alias("latency_ms_mean"),
        lat.quantile(0.5, "linear").alias("latency_ms_p50"),
        lat.quantile(0.95, "linear").alias("latency_ms_p95"),
        lat.max().alias("latency_ms_max"),
    ]


def run_polars(frame: pl.DataFrame, rates: pl.DataFrame) -> list[pl.DataFrame]:
    joined = (
        frame.lazy()
        .with_columns(
            at_us=pl.col("at").dt.epoch("us"),
            feature=pl.col("tags").struct.field("feature"),
            tenant=pl.col("tags").struct.field("tenant"),
        )
        .join_asof(
            rates.lazy(),
            left_on="at_us",
            right_on="from_us",
            by=["provider", "model", "pricing_mode"],
            check_sortedness=False,
        )
        .with_columns(repriced_cost=_repriced(pl.col))
    )
    queries = [
        joined.group_by("feature", "tenant").agg(_aggregates()),
        joined.group_by(pl.col("at").dt.truncate("1d").alias("day"), "model").agg(_aggregates()),
    ]
    return pl.collect_all(queries)


def run_duckdb(frame: pl.DataFrame, rates: pl.DataFrame, threads: int = 2) -> list[pl.DataFrame]:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.register("calls", frame.to_arrow())
    con.register("rates", rates.to_arrow())
    r = {b: f"r.r_{b}" for b in BUCKETS}
    tier = "(" + " + ".join(f"c.{b}" for b in INPUT_SIDE) + f") > {TIER}"
    repriced = " + ".join(
        f"c.{b} * "
        + (
            f"CASE WHEN {tier} AND r.tier_in IS NOT NULL THEN r.tier_in ELSE {r[b]} END"
            if b == "input_tokens"
            else f"CASE WHEN {tier} AND r.tier_out IS NOT NULL THEN r.tier_out ELSE {r[b]} END"
            if b == "output_tokens"
            else r[b]
        )
        for b in BUCKETS
    )
    con.execute(
        f"""CREATE TEMP TABLE priced AS
        SELECT c.at, c.model, c.tags.feature AS feature, c.tags.tenant AS tenant, c.cost,
               {", ".join(f"c.{b}" for b in BUCKETS)}, c.latency_ms, {repriced} AS repriced_cost
        FROM calls c ASOF LEFT JOIN rates r
          ON c.provider = r.provider AND c.model = r.model AND c.pricing_mode = r.pricing_mode
         AND epoch_us(c.at) >= r.from_us"""
    )
    aggs = f"""count(*) AS calls, count(*) - count(cost) AS unpriced_calls, sum(cost) AS cost,
        {", ".join(f"sum({b}) AS {b}" for b in BUCKETS)}, sum(repriced_cost) AS repriced_cost,
        count(*) - count(repriced_cost) AS repriced_unpriced_calls,
        avg(latency_ms) AS latency_ms_mean, quantile_cont(latency_ms, 0.5) AS latency_ms_p50,
        quantile_cont(latency_ms, 0.95) AS latency_ms_p95, max(latency_ms) AS latency_ms_max"""
    out = [
        con.sql(f"SELECT feature, tenant, {aggs} FROM priced GROUP BY ALL").pl(),
        con.sql(
            f'SELECT date_trunc(\'day\', "at") AS "day", model, {aggs} FROM priced GROUP BY ALL'
        ).pl(),
    ]
    con.close()
    return out
