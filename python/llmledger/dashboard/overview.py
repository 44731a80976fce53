"""The overview's figures: the range's totals against the previous range's, the daily spend
stacked by provider or model, and the days whose spend stands far above their baseline.

All from one rollup by day and stack key over the range, the range before it and the week
before that (the first days' baseline): the totals are sums of its rows, so they agree with
the chart to the pico-USD.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
from sqlalchemy import Engine

from ..analytics import rollup
from .filters import Filters
from .queries import Totals, day_range, totals

__all__ = ["ANOMALY_RULE", "Anomaly", "Overview", "overview"]

SERIES = 6
"""Providers or models drawn apart in the chart; the rest are stacked as `other`."""
BASELINE_DAYS = 7
ANOMALY_FACTOR = 3
ANOMALY_MIN_USD = Decimal(1)
ANOMALY_RULE = (
    f"a day is flagged when its spend is more than {ANOMALY_FACTOR} times the median daily spend "
    f"of the {BASELINE_DAYS} days before it, and at least $1.00 above that median "
    f"(days after a week without spend are not judged)"
)
OTHER = "other"


@dataclass(frozen=True)
class Anomaly:
    day: dt.date
    cost: Decimal
    baseline: Decimal

    @property
    def factor(self) -> Decimal:
        return self.cost / self.baseline


@dataclass(frozen=True)
class Overview:
    current: Totals
    previous: Totals
    days: list[dt.date]
    series: list[tuple[str, list[Decimal]]]
    """(name, priced spend per day of `days`), largest first, `other` last."""
    anomalies: list[Anomaly]


def overview(engine: Engine, f: Filters, stack: str) -> Overview:
    """The overview of `f`'s range, its chart stacked by `stack` (provider or model)."""
    before = f.previous()
    start = min(before.since, f.since - dt.timedelta(days=BASELINE_DAYS))
    rows = rollup(
        engine,
        by=[stack],
        bucket="day",
        since=start,
        until=f.until,
        where=f.where(),
        latency="mean",  # no percentiles shown: the daily rollup table can answer
    ).with_columns(pl.col("day").dt.date())
    in_range = rows.filter(pl.col("day") >= f.since)
    days = day_range(f.since, f.until)
    return Overview(
        current=totals(in_range),
        previous=totals(rows.filter(pl.col("day").is_between(before.since, f.since, "left"))),
        days=days,
        series=_series(in_range, stack, days),
        anomalies=_anomalies(rows, start, f),
    )


def _series(rows: pl.DataFrame, stack: str, days: list[dt.date]) -> list[tuple[str, list]]:
    """Priced spend per day of each of the `SERIES` biggest stack values, then `other`."""
    spent = rows.filter(pl.col("cost").is_not_null())
    by_name = (
        spent.group_by(stack)
        .agg(pl.col("cost").sum())
        .sort(["cost", stack], descending=[True, False])
    )
    names = by_name[stack].to_list()
    shown = names if len(names) <= SERIES + 1 else names[:SERIES]
    index = {day: i for i, day in enumerate(days)}
    series: dict[str, list[Decimal]] = {n: [Decimal(0)] * len(days) for n in shown}
    if len(shown) < len(names):
        series[OTHER] = [Decimal(0)] * len(days)
    for day, name, cost in spent.select("day", stack, "cost").iter_rows():
        series[name if name in shown else OTHER][index[day]] += cost
    return list(series.items())


def _anomalies(rows: pl.DataFrame, start: dt.date, f: Filters) -> list[Anomaly]:
    """The days of the range that break `ANOMALY_RULE`."""
    daily = dict.fromkeys(day_range(start, f.until), Decimal(0))
    for day, cost in rows.filter(pl.col("cost").is_not_null()).select("day", "cost").iter_rows():
        daily[day] += cost
    values = list(daily.values())
    found = []
    for i, day in enumerate(daily):
        if day < f.since or i < BASELINE_DAYS:
            continue
        baseline = statistics.median(values[i - BASELINE_DAYS : i])
        cost = values[i]
        if baseline > 0 and cost > ANOMALY_FACTOR * baseline and cost - baseline >= ANOMALY_MIN_USD:
            found.append(Anomaly(day, cost, baseline))
    return found
