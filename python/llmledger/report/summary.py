"""The figures of a spend report, every sum taken by `llmledger.rollup()`.

The report adds no money itself: totals, top models, top tag values and weeks are rollups of
one prepared ledger, so "a group none of whose calls was priced has no cost (not $0)" and the
exact Decimal sums are the rollup's, the same as an application gets from `rollup()`. What is
left here is choosing, ordering and naming rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import polars.selectors as cs

from ..analytics import Prepared, prepare, rollup
from ..store.schema import BUCKETS

__all__ = ["UNTAGGED", "Summary", "summarize"]

UNTAGGED = "(untagged)"
"""The label of the calls without a tag, in that tag's table."""

_WEEK = "(report week)"  # a column added for the weekly rollup: no tag key's name


@dataclass(frozen=True)
class Summary:
    """Spend, calls and tokens of a slice of the ledger, with its top contributors."""

    calls: int
    cost: Decimal | None
    """Sum of priced calls, USD (exact); None when no call was priced."""
    unpriced_calls: int
    """Successful calls without a price (failed calls are counted apart)."""
    failed_calls: int
    tokens: dict[str, int]
    first: object
    last: object
    top_models: pl.DataFrame
    """provider, model, calls, cost (null where no call was priced), share of cost; most
    expensive first, unpriced last."""
    by_tag: dict[str, pl.DataFrame]
    """For each tag key: its values (`(untagged)` for calls without it) with calls, cost and
    share, as `top_models`."""
    unpriced_models: pl.DataFrame
    """provider, model, calls: the successful calls no price covers, most first."""
    weekly: pl.DataFrame
    """week (Monday, UTC, as YYYY-MM-DD), calls, cost (null where no call was priced): where
    the spend moved over time."""


def _top(ledger: Prepared, keys: list[str], total: Decimal | None, top: int) -> pl.DataFrame:
    grouped = (
        rollup(ledger, by=keys)
        .select(cs.by_name(*keys, "calls", "cost", "unpriced_calls"))  # keys are not patterns
        .sort(["cost", "calls"], descending=True, nulls_last=True, maintain_order=True)
        .head(top)
    )
    share = [None if not total or c is None else c / total for c in grouped["cost"]]
    return grouped.with_columns(pl.Series("share", share, dtype=pl.Decimal(38, 12)))


def _with_text_key(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    # A tag key may be `*` or `^...$`: a pattern to `pl.col(key)`, and to the Series methods
    # Polars runs as expressions on the Series' name (`fill_null`), hence the neutral name.
    text = frame.get_column(key).cast(pl.String).rename("text").fill_null(UNTAGGED)
    return frame.with_columns(text.rename(key))


def summarize(frame: pl.DataFrame, by: list[str], top: int = 10) -> Summary:
    """A summary of `frame` (shaped like `llmledger.calls()`), with top values per tag in `by`.
    Warnings `rollup()` gives (a tag key no call has) pass through to the caller."""
    if frame.is_empty():
        return _empty(by)
    # A week as text: the rollup groups by strings, numbers and time buckets up to a month.
    week = pl.col("at").dt.truncate("1w").dt.strftime("%Y-%m-%d").alias(_WEEK)
    ledger = prepare(frame.with_columns(week))
    everything = rollup(ledger).row(0, named=True)
    ok = rollup(ledger, where={"status": "ok"}).select("calls", "unpriced_calls")
    ok_calls, unpriced = ok.row(0) if ok.height else (0, 0)
    total = everything["cost"]
    by_tag = {
        # As text: a key may name a column (`--by http_status`) as well as a tag.
        key: _with_text_key(_top(ledger, [key], total, top), key)
        for key in by
    }
    return Summary(
        calls=everything["calls"],
        cost=total,
        unpriced_calls=unpriced,
        failed_calls=everything["calls"] - ok_calls,
        tokens={b: everything[b] for b in BUCKETS},
        first=frame["at"].min(),
        last=frame["at"].max(),
        top_models=_top(ledger, ["provider", "model"], total, top),
        by_tag=by_tag,
        unpriced_models=rollup(ledger, by=["provider", "model"], where={"status": "ok"})
        .filter(pl.col("unpriced_calls") > 0)
        .select("provider", "model", calls="unpriced_calls")
        .sort("calls", descending=True, maintain_order=True),
        weekly=rollup(ledger, by=[_WEEK])
        .select(pl.col(_WEEK).alias("week"), "calls", "cost")
        .sort("week"),
    )


def _empty(by: list[str]) -> Summary:
    nothing = pl.DataFrame()
    return Summary(
        calls=0,
        cost=None,
        unpriced_calls=0,
        failed_calls=0,
        tokens=dict.fromkeys(BUCKETS, 0),
        first=None,
        last=None,
        top_models=nothing,
        by_tag=dict.fromkeys(by, nothing),
        unpriced_models=nothing,
        weekly=nothing,
    )
