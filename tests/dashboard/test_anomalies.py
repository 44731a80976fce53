"""The overview's spend-anomaly rule (`ANOMALY_RULE`), day by day with exact amounts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from llmledger.dashboard.filters import Filters
from llmledger.dashboard.overview import Anomaly, _anomalies

START = dt.date(2026, 3, 1)


def flagged(spend: list[str], since_day: int = 7) -> list[Anomaly]:
    """The anomalies of a range that starts `since_day` days into `spend` (one USD amount a
    day from START; the days before it are the baseline only)."""
    days = [START + dt.timedelta(days=i) for i in range(len(spend))]
    rows = pl.DataFrame(
        {"day": days, "cost": [Decimal(s) for s in spend]},
        schema={"day": pl.Date, "cost": pl.Decimal(38, 12)},
    )
    f = Filters(since=START + dt.timedelta(days=since_day), until=days[-1] + dt.timedelta(days=1))
    return _anomalies(rows, START, f)


def test_a_day_above_three_times_the_weeks_median_and_a_dollar_above_it_is_flagged():
    found = flagged(["1"] * 7 + ["3.50", "3.00"])
    assert found == [Anomaly(START + dt.timedelta(days=7), Decimal("3.50"), Decimal(1))]


def test_exactly_three_times_is_not_flagged():
    assert flagged(["1"] * 7 + ["3.00"]) == []


def test_less_than_a_dollar_above_the_median_is_not_flagged_however_large_the_factor():
    assert flagged(["0.10"] * 7 + ["0.50"]) == []  # 5x, but $0.40 above


def test_a_day_after_a_week_without_spend_is_not_judged():
    assert flagged(["0"] * 7 + ["100"]) == []


def test_only_the_days_of_the_range_are_reported():
    # Day 7 would be flagged, but the range starts on day 8; day 8 is judged against days
    # 1-7, whose median is still $1.
    found = flagged(["1"] * 7 + ["10", "4"], since_day=8)
    assert found == [Anomaly(START + dt.timedelta(days=8), Decimal(4), Decimal(1))]
