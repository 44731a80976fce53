"""Merging the planner's parts when the caller asked for the latency mean, not percentiles.

Every part of such a rollup comes in the sums shape: the keys, `calls`, `unpriced_calls`,
`cost` and `backfilled_cost` (Decimal USD; `cost` null when no call of the group is priced),
the token sums, re-pricing's columns when re-pricing, then `latency_ms_sum`, `latency_calls`
and `latency_ms_max`. Counts and money add exactly (integers, Decimal); the latency sums are
floating point, so a mean merged from parts may differ from a one-pass mean in its last bits
(see docs/analytics.md: "what identical means"). Parts with every call's latencies (the
percentiles case) merge with `memory.merge_parts` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import polars as pl
import polars.selectors as cs

from ..store.schema import BUCKETS
from .memory import same_key_types

__all__ = ["merge_sums", "money"]

_PICO = pl.lit(Decimal("0.000000000001"), pl.Decimal(38, 12))
_COUNTS = ("calls", "unpriced_calls", *BUCKETS, "latency_calls")
_REPRICED = ("repriced_cost", "repriced_unpriced_calls", "cost_difference")


def money(pico: pl.Expr) -> pl.Expr:
    """Integer pico-USD as Decimal USD (exact: a product of decimals keeps both scales)."""
    return pico.cast(pl.Int128).cast(pl.Decimal(38, 0)) * _PICO


def merge_sums(parts: Sequence[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """One result, with `latency_ms_mean` and `latency_ms_max`, from parts in the sums shape:
    counts and money added per group (money stays null where it is null in every part: no
    call of the group was priced), latency sums and counts added, maxima taken."""
    frame = pl.concat(same_key_types(parts, keys))
    repriced = "repriced_cost" in frame.columns
    counts = [*_COUNTS, *(["repriced_unpriced_calls"] if repriced else [])]
    moneys = ["cost", "backfilled_cost", *(["repriced_cost"] if repriced else [])]
    aggregates = [pl.col(c).sum() for c in [*counts, "latency_ms_sum"]]
    aggregates += [
        pl.when(pl.col(c).is_not_null().any()).then(pl.col(c).sum()).alias(c) for c in moneys
    ]
    aggregates.append(pl.col("latency_ms_max").max())
    if keys:
        # By exact name: a key may be a tag named `*` or `^...$`, patterns to `group_by`.
        merged = frame.group_by(cs.by_name(keys), maintain_order=True).agg(*aggregates)
    else:
        merged = frame.select(*aggregates).filter(pl.col("calls") > 0)
    mean = pl.col("latency_ms_sum") / pl.col("latency_calls")
    merged = merged.with_columns(
        latency_ms_mean=pl.when(pl.col("latency_calls") > 0).then(mean),
        backfilled_cost=pl.col("backfilled_cost").fill_null(Decimal(0)),
    )
    if repriced:
        merged = merged.with_columns(cost_difference=pl.col("repriced_cost") - pl.col("cost"))
    columns = [*keys, "calls", "unpriced_calls", "cost", "backfilled_cost", *BUCKETS]
    columns += [*(_REPRICED if repriced else ()), "latency_ms_mean", "latency_ms_max"]
    return merged.select(cs.by_name(columns))
