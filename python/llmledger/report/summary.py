"""The figures of a spend report, computed with Polars from the ledger's rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from .._core import BUCKETS

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Spend, calls and tokens of a slice of the ledger, with its top contributors."""

    calls: int
    cost: Decimal
    """Sum of priced calls, USD (exact)."""
    unpriced_calls: int
    failed_calls: int
    tokens: dict[str, int]
    first: object
    last: object
    top_models: pl.DataFrame
    """provider, model, calls, cost (null where no call was priced), share of cost; most
    expensive first, unpriced last."""
    by_tag: dict[str, pl.DataFrame]
    """For each tag key: its values with calls, cost and share, as `top_models`."""
    unpriced_models: pl.DataFrame
    weekly: pl.DataFrame
    """week (Monday, UTC), calls, cost (null where no call was priced): where the spend moved
    over time."""


def _priced_sum() -> pl.Expr:
    """A group's cost: null, shown as unpriced, where no call of it has one (a sum of nulls is
    0, and an unpriced model or week would read as free)."""
    return pl.when(pl.col("cost").count() > 0).then(pl.col("cost").sum()).alias("cost")


def _top(frame: pl.DataFrame, keys: list[str], total: Decimal, top: int) -> pl.DataFrame:
    grouped = (
        frame.group_by(keys)
        .agg(
            pl.len().alias("calls"),
            _priced_sum(),
            pl.col("cost").null_count().alias("unpriced"),
        )
        .sort(["cost", "calls"], descending=True, nulls_last=True)
        .head(top)
    )
    share = [None if not total or c is None else float(c / total) for c in grouped["cost"]]
    return grouped.with_columns(pl.Series("share", share, dtype=pl.Float64))


def summarize(frame: pl.DataFrame, by: list[str], top: int = 10) -> Summary:
    """A summary of `frame` (shaped like `llmledger.calls()`), with top values per tag in `by`."""
    total = frame["cost"].sum() or Decimal(0)
    by_tag = {}
    for key in by:
        tagged = frame.with_columns(
            pl.col("tags").struct.field(key).fill_null("(untagged)").alias(key)
            if key in _tag_keys(frame)
            else pl.lit("(untagged)").alias(key)
        )
        by_tag[key] = _top(tagged, [key], total, top)
    unpriced = frame.filter(pl.col("cost").is_null() & (pl.col("status") == "ok"))
    return Summary(
        calls=frame.height,
        cost=total,
        unpriced_calls=unpriced.height,
        failed_calls=frame.filter(pl.col("status") != "ok").height,
        tokens={b: int(frame[b].sum()) for b in BUCKETS},
        first=frame["at"].min(),
        last=frame["at"].max(),
        top_models=_top(frame, ["provider", "model"], total, top),
        by_tag=by_tag,
        unpriced_models=unpriced.group_by("provider", "model")
        .len("calls")
        .sort("calls", descending=True),
        weekly=frame.group_by(pl.col("at").dt.truncate("1w").alias("week"))
        .agg(pl.len().alias("calls"), _priced_sum())
        .sort("week"),
    )


def _tag_keys(frame: pl.DataFrame) -> set[str]:
    dtype = frame.schema["tags"]
    return {f.name for f in dtype.fields} if isinstance(dtype, pl.Struct) else set()
