"""The dense parts of the dashboard on their own: filters, re-summing rollup rows, CSV
neutralisation, shares and changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from llmledger.dashboard.calls import neutralise
from llmledger.dashboard.filters import BadFilter, parse
from llmledger.dashboard.formatting import change, percent
from llmledger.dashboard.queries import summed

TODAY = dt.date(2026, 12, 6)


def test_default_range_is_the_30_days_up_to_today():
    f = parse({}, TODAY)
    assert (f.since, f.to, f.until, f.days) == (
        dt.date(2026, 11, 7),
        TODAY,
        dt.date(2026, 12, 7),
        30,
    )
    assert f.previous().since == dt.date(2026, 10, 8) and f.previous().until == f.since


def test_to_is_included_and_a_tag_value_may_hold_colons():
    f = parse({"from": ["2026-10-01"], "to": ["2026-10-01"], "tag": ["url:https://x"]}, TODAY)
    assert (f.since, f.until) == (dt.date(2026, 10, 1), dt.date(2026, 10, 2))
    assert f.where() == {"url": "https://x"}
    assert parse({"from": ["2026-10-01"], "to": ["2026-10-01"]}, TODAY).query() == (
        "?from=2026-10-01&to=2026-10-01"
    )


def test_the_longest_range_and_one_day_more():
    assert parse({"from": ["2025-01-01"], "to": ["2027-01-02"]}, TODAY).days == 732
    with pytest.raises(BadFilter, match="longer than 732 days"):
        parse({"from": ["2025-01-01"], "to": ["2027-01-03"]}, TODAY)
    with pytest.raises(BadFilter, match="past the last day"):
        parse({"from": ["9999-12-30"], "to": ["9999-12-31"]}, TODAY)


def test_resumming_keeps_unpriced_groups_unpriced():
    rows = pl.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "calls": [1, 2, 3, 4],
            "unpriced_calls": [0, 2, 3, 4],
            "cost": pl.Series(
                [Decimal("0.000000000001"), None, None, None], dtype=pl.Decimal(38, 12)
            ),
        }
    )
    out = summed(rows, ["model"])
    assert out.rows() == [("a", Decimal("0.000000000001"), 3, 2), ("b", None, 7, 7)]


def test_formula_cells_are_neutralised():
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    assert neutralise("acme") == "acme" and neutralise("") == ""


def test_shares_and_changes():
    assert percent(Decimal("0.125")) == "12.5%" and percent(Decimal("0.0000001")) == "<0.1%"
    assert percent(None) == "—" and percent(0) == "0.0%"
    assert change(Decimal(3), Decimal(2)) == "+50.0%" and change(1, 0) == "new"
    assert change(0, 0) == "no change" and change(None, 1) == "—"
