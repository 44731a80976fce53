"""`llmledger.prune` on SQLite, PostgreSQL and MariaDB: the calls before the horizon leave the
ledger, every pruned day keeps its sums in the daily rollup, late calls into a pruned day are
added to them, and a prune stopped midway then rerun ends exactly as one that was not."""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from decimal import Decimal

import polars as pl
import pytest
from analytics.sql_rows import DAY_US, insert_rows, random_rows
from sqlalchemy import select

from llmledger import rollup
from llmledger.cli import main
from llmledger.store.derived import backfill, daily_rollup, pruned_before_us
from llmledger.store.schema import calls
from prune.ledgers import HORIZON, HORIZON_US, cut, job, ledger, rows_of, snapshot

BY = ["feature", "tenant"]


class Stop(Exception):
    """Stands for the process dying between two batches."""


def day_sums_of_rollup(frame: pl.DataFrame) -> dict[tuple, tuple]:
    """rollup(by=BY, bucket="day") as {(day, feature, tenant): exact sums}."""
    out = {}
    for r in frame.to_dicts():
        cost = int((r["cost"] or Decimal(0)).scaleb(12))
        key = (r["day"].date(), r["feature"], r["tenant"])
        out[key] = (r["calls"], r["unpriced_calls"], cost, r["input_tokens"], r["output_tokens"])
    return out


def day_sums_of_table(engine) -> dict[tuple, tuple]:
    """The daily rollup table summed as `day_sums_of_rollup` sums (cost: recorded + backfilled)."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    with engine.connect() as connection:
        for r in connection.execute(select(daily_rollup)).mappings():
            held = sums[r["day"], r["tags"]["feature"], r["tags"]["tenant"]]
            held[0] += r["calls"]
            held[1] += r["unpriced_calls"]
            held[2] += r["cost"] + r["backfilled_cost"]
            held[3] += r["input_tokens"]
            held[4] += r["output_tokens"]
    return {k: tuple(v) for k, v in sums.items()}


def test_a_prune_deletes_the_calls_before_the_horizon_and_keeps_their_sums(engine):
    rows = ledger(engine)
    daily = rows_of(engine, daily_rollup)
    whole = day_sums_of_rollup(rollup(engine, by=BY, bucket="day"))
    assert day_sums_of_table(engine) == whole  # the job's sums, before any prune
    with engine.connect() as connection:
        assert pruned_before_us(connection) is None
        backfilled_before = set(connection.execute(select(backfill.c.call_id)).scalars())
    old = [i for i, r in enumerate(rows, 1) if r["at_us"] < HORIZON_US]
    assert len(old) > 100

    summary = cut(engine, batch_size=7)
    assert (summary.calls, summary.days, summary.dry_run) == (len(old), 3, False)
    assert summary.backfilled == len(backfilled_before & set(old)) > 0
    assert summary.horizon == dt.datetime(2026, 1, 4, tzinfo=dt.UTC)
    after = snapshot(engine)
    kept = sorted(r["event_id"] for r in rows if r["at_us"] >= HORIZON_US)
    assert after["events"] == kept
    assert len(after["backfilled"]) == len(backfilled_before) - summary.backfilled
    assert after["horizon"] == HORIZON_US
    # The daily rollup is as it was, row for row; the pruned days' rows are the pruned sums.
    assert after["daily"] == daily
    assert after["pruned"] == [r for r in daily if r[0] < HORIZON]
    # rollup() by day over the whole window: the ledger answers from the horizon on, the
    # daily rollup table (or the archive beside a SQLite file) before it, and together they
    # give the sums of before the prune.
    assert day_sums_of_rollup(rollup(engine, by=BY, bucket="day", latency="mean")) == whole
    assert {k: v for k, v in day_sums_of_table(engine).items() if k[0] < HORIZON} == {
        k: v for k, v in whole.items() if k[0] < HORIZON
    }
    # Nothing left to do: a second prune, a nightly run and a rebuild change nothing.
    assert cut(engine).calls == 0
    assert job(engine).days == 0
    job(engine, rebuild=True)
    assert snapshot(engine) == after


def test_a_dry_run_counts_and_deletes_nothing(engine):
    rows = ledger(engine, n=120, seed=6)
    before = snapshot(engine)
    plan = cut(engine, dry_run=True)
    assert plan.dry_run and plan.days == 3 and plan.backfilled == 0
    assert plan.calls == sum(r["at_us"] < HORIZON_US for r in rows)
    assert str(plan).startswith(f"prune --dry-run: would delete {plan.calls} calls before 2026")
    assert snapshot(engine) == before  # the horizon included: not recorded


def test_late_calls_into_a_pruned_day_add_to_its_sums(engine, twin, tmp_path):
    rows = ledger(engine)
    ledger(twin)
    cut(engine, batch_size=50)
    overrides = tmp_path / "house.json"
    overrides.write_text(
        '{"models": [{"provider": "acme-gateway", "model": "house-model",'
        ' "prices": {"input_mtok": "1.25", "output_mtok": "5"}}]}'
    )
    late = random_rows(60, seed=5, first_event=1000, days=2)  # dated in two pruned days
    for database in (engine, twin):
        insert_rows(database, late)
    # The nightly job, as the command runs it, on the pruned ledger; as a call on the twin.
    url = engine.url.render_as_string(hide_password=False)
    assert main(["reaggregate", "--db", url, "--overrides", str(overrides)]) == 0
    job(twin)
    assert rows_of(engine, daily_rollup) == rows_of(twin, daily_rollup)
    # The late calls wait in the ledger for the next prune, which takes them but the newest
    # call by id (kept so that SQLite never reuses its id); the sums stay the twin's.
    again = cut(engine)
    assert (again.calls, again.days) == (59, 2)
    kept = [r["event_id"] for r in rows if r["at_us"] >= HORIZON_US]
    assert snapshot(engine)["events"] == sorted([*kept, late[-1]["event_id"]])
    assert rows_of(engine, daily_rollup) == rows_of(twin, daily_rollup)
    job(engine, rebuild=True)
    assert rows_of(engine, daily_rollup) == rows_of(twin, daily_rollup)


def test_a_prune_stopped_midway_then_rerun_ends_as_one_prune(engine, twin):
    for database in (engine, twin):
        ledger(database)
    cut(twin, batch_size=10)
    batches = []

    def stop_after_three(deleted: int) -> None:
        batches.append(deleted)
        if len(batches) == 3:
            raise Stop

    with pytest.raises(Stop):
        cut(engine, batch_size=10, _after_batch=stop_after_three)
    assert batches == [10, 10, 10]  # 30 of the first day's 37 calls
    with engine.connect() as connection:
        assert pruned_before_us(connection) == HORIZON_US  # recorded before the first batch
    # The nightly job runs in between, over the half-pruned first day, into which a call
    # arrives late: the day is its pruned sums plus the calls still in the ledger.
    (late,) = random_rows(1, seed=9, first_event=2000, days=1)
    for database in (engine, twin):
        insert_rows(database, [late])
        job(database)
    assert rows_of(engine, daily_rollup) == rows_of(twin, daily_rollup)
    rerun = cut(engine, batch_size=10)
    assert rerun.days == 3
    cut(twin, batch_size=10)  # nothing but the late call, which both keep: the newest by id
    assert snapshot(engine) == snapshot(twin)
    with engine.connect() as connection:
        old = select(calls.c.event_id).where(calls.c.at_us < HORIZON_US)
        assert connection.execute(old).scalars().all() == [late["event_id"]]


def test_regrouping_the_daily_rollup_is_refused_once_calls_are_pruned(engine):
    ledger(engine, n=60, seed=7)
    cut(engine)
    with pytest.raises(ValueError, match=r"cannot be regrouped by tags \['feature'\]"):
        job(engine, rebuild=True, tag_keys=["feature"])


def test_progress_bar_counts_the_calls(engine):
    ledger(engine, n=80, seed=8)
    stream = io.StringIO()
    summary = cut(engine, progress=stream, batch_size=9)
    assert stream.getvalue().startswith(f"prune calls: {summary.calls} in ")


def test_the_horizon_only_moves_forward(engine):
    ledger(engine, n=90, seed=10)
    cut(engine)
    earlier = cut(engine, before=dt.date(2026, 1, 2))
    assert earlier.calls == 0
    with engine.connect() as connection:
        assert pruned_before_us(connection) == HORIZON_US
    cut(engine, before=dt.date(2026, 1, 5))
    with engine.connect() as connection:
        assert pruned_before_us(connection) == HORIZON_US + DAY_US
