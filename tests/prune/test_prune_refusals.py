"""What a prune refuses, deleting nothing: calls the nightly job has not rolled up, a cutoff
in today, a cutoff inside a budget period still open, a second run at once; and bad input,
named where the user called."""

from __future__ import annotations

import datetime as dt

import pytest
from analytics.sql_rows import insert_rows, random_rows

from llmledger import PruneRefused, prune
from llmledger.reaggregate import AlreadyRunning
from llmledger.reaggregate.lock import one_run_at_a_time
from llmledger.store.totals import TotalsSpec
from llmledger.store.totals_sql import rebuild_totals
from prune.ledgers import cut, ledger, snapshot

TODAY = dt.datetime.now(dt.UTC).date()


def test_calls_not_rolled_up_are_refused(engine):
    insert_rows(engine, random_rows(50, seed=1, first_event=900, days=6))
    with pytest.raises(PruneRefused, match=r"never ran on this database: run llmledger reag"):
        cut(engine)
    assert len(snapshot(engine)["events"]) == 50
    ledger(engine, n=40, seed=2)  # the job runs; then calls arrive late, dated in old days
    insert_rows(engine, random_rows(7, seed=3, first_event=500, days=2))
    before = snapshot(engine)
    with pytest.raises(PruneRefused) as refused:
        cut(engine)
    assert str(refused.value) == (
        "not pruning calls before 2026-01-04 00:00 UTC: 7 of its calls are not rolled up yet "
        "(recorded after the last reaggregate run): run llmledger reaggregate first"
    )
    assert snapshot(engine) == before  # nor is the horizon recorded


def test_a_cutoff_in_today_is_refused(engine):
    ledger(engine, n=20, seed=4)
    with pytest.raises(PruneRefused, match="the cutoff is not in a closed day"):
        cut(engine, before=TODAY + dt.timedelta(days=1))
    # Today's midnight is the latest cutoff: "0d" deletes every closed day's calls.
    assert cut(engine, before=None, older_than="0d", dry_run=True).calls == 20


def test_a_cutoff_inside_an_open_budget_period_is_refused(engine):
    ledger(engine, n=20, seed=5)
    # At 05:00 UTC on Tuesday 2026-01-06 it is 19:00 in Kiritimati (UTC+14), whose day
    # began at 10:00 UTC the day before: a cutoff at 2026-01-06 00:00 UTC falls inside it.
    now = dt.datetime(2026, 1, 6, 5, tzinfo=dt.UTC)
    rebuild_totals(engine, TotalsSpec(tz="Pacific/Kiritimati", periods=("day",)))
    before = snapshot(engine)
    with pytest.raises(PruneRefused) as refused:
        cut(engine, before=dt.date(2026, 1, 6), _now=now)
    assert str(refused.value) == (
        "not pruning calls before 2026-01-06 00:00 UTC: the cutoff falls inside the current "
        "day (since 2026-01-06 00:00 Pacific/Kiritimati), a budget period still open: choose "
        "a cutoff at or before 2026-01-05 00:00 UTC"
    )
    assert snapshot(engine) == before
    assert cut(engine, before=dt.date(2026, 1, 5), _now=now, dry_run=True).days == 4
    # ISO weeks start on Monday 2026-01-05, months on the 1st, in UTC here.
    rebuild_totals(engine, TotalsSpec(tz="UTC", periods=("week", "month")))
    with pytest.raises(
        PruneRefused, match=r"inside the current month \(since 2026-01-01 00:00 UTC"
    ):
        cut(engine, before=dt.date(2026, 1, 2), _now=now)
    assert cut(engine, before=dt.date(2026, 1, 1), _now=now, dry_run=True).calls == 0
    # Once the month has closed, its days may go; the totals keep its spend.
    later = dt.datetime(2026, 2, 3, tzinfo=dt.UTC)
    assert cut(engine, before=dt.date(2026, 2, 1), _now=later, dry_run=True).calls == 20


def test_a_prune_waits_for_no_one(engine):
    ledger(engine, n=20, seed=6)
    before = snapshot(engine)
    running = pytest.raises(AlreadyRunning, match="`llmledger prune` is running")
    with one_run_at_a_time(engine), running:  # the nightly job, or another prune, is running
        cut(engine)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("cutoff", "error", "message"),
    [
        ({"older_than": "180"}, ValueError, r"older_than: '180' is not an age such as 180d"),
        ({"older_than": "-3d"}, ValueError, r"older_than: '-3d' is not an age"),
        ({"older_than": dt.timedelta(days=-1)}, ValueError, r"is not an age of 0 days or more"),
        ({"older_than": "180d", "before": TODAY}, TypeError, "exactly one of older_than and"),
        ({}, TypeError, "exactly one of older_than and before"),
        ({"before": "2026-01-01"}, TypeError, "before: expected a date or datetime, got str"),
        ({"before": TODAY, "batch_size": 0}, ValueError, "batch_size must be a whole number"),
    ],
)
def test_bad_arguments_are_named(tmp_path, cutoff, error, message):
    with pytest.raises(error, match=message):
        prune(f"sqlite:///{tmp_path / 'never-created.db'}", **cutoff)
    assert not (tmp_path / "never-created.db").exists()
