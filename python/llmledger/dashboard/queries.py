"""The figures each page shows, every sum taken by `llmledger.rollup()` on the database.

Pages add no money themselves: totals, groups and days are rollups, so the exact Decimal sums
and the rule "a group none of whose calls was priced has no cost (not $0)" are the rollup's.
A page that needs only sums makes one rollup call per chart or table, asking for the latency
mean alone (`latency="mean"`): the planner can then answer each closed day from the nightly
job's daily rollup table instead of reading its calls. Percentiles (`/models`) are the
rollup's own columns, answered by the archive once the job has run. Before any rollup, the
tags a filter names are checked against the range's calls (`has_tag`: the first call carrying
the key ends the look, so a key in use costs next to nothing): a key no call has is a
`BadFilter` naming the nearest one, never an empty page that looks like a real answer. Listing
every key of a range is a scan of its tags (`known_tags`); the pages that need the list read
it through `Dashboard.tag_keys`, cached.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import polars.selectors as cs
from sqlalchemy import Engine, select

from ..analytics import rollup
from ..reaggregate import DEFAULT_TAG_KEYS
from ..store.derived import state
from ..store.filters import tag_keys, tag_present, to_us
from ..store.schema import BUCKETS
from .filters import BadFilter, Filters

__all__ = [
    "Totals",
    "check_tags",
    "has_tag",
    "known_tags",
    "models",
    "money_sum",
    "rolled_up_tags",
    "summed",
    "tag_value",
    "tag_values",
    "totals",
]

TOP_VALUES = 50
"""Values of a tag `/tags/{key}` lists, by spend."""


def known_tags(engine: Engine, f: Filters) -> list[str]:
    """Every tag key some call of the range has, sorted."""
    with engine.connect() as connection:
        return sorted(tag_keys(connection, to_us(f.since), to_us(f.until)))


def has_tag(engine: Engine, f: Filters, key: str) -> bool:
    """Whether some call of `f`'s range has tag `key` (the first one ends the look)."""
    with engine.connect() as connection:
        return tag_present(connection, key, to_us(f.since), to_us(f.until))


def check_tags(
    engine: Engine, f: Filters, asked: Iterable[str], known: Callable[[], list[str]]
) -> None:
    """A `BadFilter` for a tag key no call of the range has (a typo, most often), naming the
    nearest of the range's keys (`known()`, read only then)."""
    for key in asked:
        if not has_tag(engine, f, key):
            close = difflib.get_close_matches(key, known(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadFilter(f"no call in this range has the tag {key!r}{hint}")


def rolled_up_tags(engine: Engine) -> tuple[str, ...]:
    """The tag keys the nightly job's daily rollup groups by (its defaults before a run):
    the breakdowns the planner can answer from that table."""
    with engine.connect() as connection:
        keys = connection.execute(select(state.c.tag_keys).limit(1)).scalar_one_or_none()
    return tuple(keys) if keys else DEFAULT_TAG_KEYS


def money_sum(values: pl.Series) -> Decimal | None:
    """The exact sum of a rollup's cost column; None when no group was priced."""
    if values.null_count() == len(values):
        return None
    return values.sum()


@dataclass(frozen=True)
class Totals:
    """Spend, calls, tokens and unpriced calls of a set of rollup rows."""

    calls: int
    cost: Decimal | None
    tokens: int
    unpriced_calls: int

    @property
    def unpriced_share(self) -> Decimal | None:
        return Decimal(self.unpriced_calls) / self.calls if self.calls else None

    @property
    def average(self) -> Decimal | None:
        return None if self.cost is None or not self.calls else self.cost / self.calls


def totals(rows: pl.DataFrame) -> Totals:
    """The totals of rollup rows (every group counted once). No call costs exactly $0; calls
    none of which was priced cost None (unknown, not zero)."""
    calls = int(rows["calls"].sum())
    return Totals(
        calls=calls,
        cost=money_sum(rows["cost"]) if calls else Decimal(0),
        tokens=int(sum(rows[b].sum() for b in BUCKETS)),
        unpriced_calls=int(rows["unpriced_calls"].sum()),
    )


def _rollup(engine: Engine, f: Filters, by: list[str], **kw: Any) -> pl.DataFrame:
    """`rollup()` of `f`'s range and filters; sums and the latency mean only unless `kw` asks
    for percentiles, so that the nightly job's daily rollup table can answer."""
    kw.setdefault("where", f.where())
    kw.setdefault("latency", "mean")
    return rollup(engine, by=by, since=f.since, until=f.until, **kw)


def _with_share(frame: pl.DataFrame, total: Decimal | None) -> pl.DataFrame:
    share = [None if not total or c is None else c / total for c in frame["cost"]]
    return frame.with_columns(pl.Series("share", share, dtype=pl.Decimal(38, 12)))


def _by_cost(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["cost", "calls"], descending=True, nulls_last=True, maintain_order=True)


MODEL_SORTS = {
    "cost": "cost",
    "calls": "calls",
    "tokens": "tokens",
    "average": "average",
    "p50": "latency_ms_p50",
    "p95": "latency_ms_p95",
    "model": "model",
}
"""`/models`' sortable columns: the `sort` parameter's values and the columns they sort."""


def models(engine: Engine, f: Filters, sort: str, descending: bool) -> pl.DataFrame:
    """Per provider and model: calls, cost, share, tokens per bucket and in all, average
    cost, latency p50 / p95, in the order asked (unpriced last when sorting by money)."""
    rows = _rollup(engine, f, ["provider", "model"], latency="percentiles")
    rows = _with_share(rows, money_sum(rows["cost"])).with_columns(
        tokens=pl.sum_horizontal(*BUCKETS),
        average=pl.col("cost") / pl.col("calls"),
    )
    if sort not in MODEL_SORTS:
        raise BadFilter(f"sort must be one of {', '.join(MODEL_SORTS)}, not {sort!r}")
    keys = [MODEL_SORTS[sort], "provider", "model"]
    return rows.sort(keys, descending=[descending, False, False], nulls_last=True)


def tag_values(engine: Engine, f: Filters, key: str) -> tuple[pl.DataFrame, Totals]:
    """The top `TOP_VALUES` values of tag `key` (null: the calls without it) by spend, with
    calls and share, and the totals of every value."""
    rows = _rollup(engine, f, [key])
    everything = totals(rows)
    top = _by_cost(_with_share(rows, everything.cost)).head(TOP_VALUES)
    # By exact name: a tag key may read as a pattern (`*`, `^x$`) to `pl.col`.
    top = top.select(cs.by_name(key, "calls", "cost", "share", "unpriced_calls"))
    return top.rename({key: "value"}), everything


def tag_value(
    engine: Engine, f: Filters, key: str, value: str, others: list[str]
) -> dict[str, Any]:
    """One value of a tag: its totals, models, daily spend, and its calls broken down by each
    other tag key of `others`."""
    where = {**f.where(), key: value}
    # One rollup for the daily trend and the models (both are sums of its rows), and one per
    # breakdown, at once: each reads the range's calls of the value (the archive's, where the
    # daily table holds about a row per call), and the reads and kernels let go of the GIL.
    with ThreadPoolExecutor(max_workers=1 + len(others)) as pool:
        by_day = pool.submit(_rollup, engine, f, ["provider", "model"], bucket="day", where=where)
        by_other = {o: pool.submit(_rollup, engine, f, [o], where=where) for o in others}
        rows = by_day.result()
        breakdowns = {o: r.result() for o, r in by_other.items()}
    found: dict[str, Any] = {"totals": totals(rows)}
    found["daily"] = summed(rows, ["day"]).sort("day")
    found["models"] = _by_cost(summed(rows, ["provider", "model"]))
    found["breakdowns"] = {}
    for other, rows in breakdowns.items():
        top = _by_cost(_with_share(rows, found["totals"].cost)).head(TOP_VALUES)
        found["breakdowns"][other] = top.select(cs.by_name(other, "calls", "cost", "share")).rename(
            {other: "value"}
        )
    return found


def summed(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Rollup rows summed again by `keys`: calls, unpriced calls, tokens and cost, exactly;
    a group none of whose rows was priced has no cost (not $0). Latencies do not sum."""
    cost = pl.when(pl.col("cost").is_null().all()).then(None).otherwise(pl.col("cost").sum())
    sums = [pl.col(c).sum() for c in rows.columns if c in _SUMMED]
    extra = [c for c in ("repriced_cost", "cost_difference") if c in rows.columns]
    sums += [
        pl.when(pl.col(c).is_null().all()).then(None).otherwise(pl.col(c).sum()).alias(c)
        for c in extra
    ]
    return rows.group_by(keys, maintain_order=True).agg(cost.alias("cost"), *sums)


_SUMMED = ("calls", "unpriced_calls", "backfilled_cost", *BUCKETS)


def day_range(since: dt.date, until: dt.date) -> list[dt.date]:
    """Every day from `since` up to, not including, `until`."""
    return [since + dt.timedelta(days=i) for i in range((until - since).days)]
