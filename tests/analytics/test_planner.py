"""The planner's answer equals reading every call from the ledger, row for row and to the
pico-USD, on SQLite, PostgreSQL and MariaDB: after the nightly job ran, with calls arriving
late into closed days, backfilled calls, pruned calls, other time zones, windows ending
mid-day, tags the job does not keep, months and hours."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sqlalchemy import delete, insert, select

from llmledger.analytics import CallsPruned, rollup
from llmledger.analytics import planner as planner_module
from llmledger.analytics import sql as sql_module
from llmledger.analytics.source import read_batches
from llmledger.analytics.sql import rollup_engine
from llmledger.pricing import build_pricer
from llmledger.reaggregate import reaggregate
from llmledger.store import make_engine, upgrade
from llmledger.store.read import read_calls
from llmledger.store.schema import calls

from .sql_rows import D0, DAY_US, insert_rows, random_rows

OVERRIDES = {
    "models": [
        {
            "provider": "acme-gateway",
            "model": "house-model",
            "prices": {"input_mtok": "1.25", "output_mtok": "5"},
        }
    ]
}
DAILY, MODELS, GROUPED, ROWS = (
    planner_module.DAILY,
    planner_module.DAILY_MODELS,
    planner_module.LEDGER_GROUPED,
    planner_module.LEDGER_ROWS,
)
ARCHIVE = planner_module.ARCHIVE


@pytest.fixture
def ledger(database_url, monkeypatch):
    """600 calls over 5 days rolled up by the job (house-model calls backfilled), then calls
    arriving late into those closed days and new calls of the last day. Days count as
    recent (read from the ledger) for 5 ids below the watermark, not 10,000; and the daily
    table is read however many rows per call it has (a small ledger's groups are few calls).
    The job keeps no archive here (a SQLite file's would sit beside it): these are the daily
    table's and the ledger's parts; test_the_real_archive_answers_its_days the archive's."""
    monkeypatch.setattr(planner_module, "LOOKBACK_IDS", 5)
    monkeypatch.setattr(planner_module, "DAILY_ROWS_PER_CALL", float("inf"))
    engine = make_engine(database_url)
    upgrade(engine)
    # In time order, as calls are recorded: the ids below the watermark are the last day's.
    insert_rows(engine, sorted(random_rows(600, seed=7), key=lambda row: row["at_us"]))
    reaggregate(engine, pricer=build_pricer(OVERRIDES), progress=io.StringIO(), archive=False)
    late = random_rows(40, seed=8, first_event=10_000, days=5)
    for n, row in enumerate(late):
        # Half late into the first two days, half on the last day.
        day = D0 + (n // 2) % 2 if n % 2 else D0 + 4
        row["at_us"] = day * DAY_US + row["at_us"] % DAY_US
    insert_rows(engine, late)
    yield engine
    engine.dispose()


def _every_call(engine, **case):
    """Today's reference: every call of the window read from the ledger."""
    mean = case.pop("latency", "percentiles") == "mean"
    result = rollup_engine(engine, **_arguments(case), _every_call=True)
    return result.drop("latency_ms_p50", "latency_ms_p95") if mean else result


def _arguments(case):
    by = case.pop("by", [])
    return dict(by=[by] if isinstance(by, str) else by, **case)


def _same(planned: pl.DataFrame, reference: pl.DataFrame, keys: list[str]) -> None:
    """Row for row, counts, tokens and money exact; the latency mean to 1e-12 relative (a
    sum of floats, added in another order by the daily table and the database)."""
    reference = reference.sort(keys, nulls_last=True) if keys else reference
    assert planned.columns == reference.columns
    exact = [c for c in planned.columns if c != "latency_ms_mean"]
    assert_frame_equal(planned.select(exact), reference.select(exact), check_exact=True)
    assert_frame_equal(
        planned.select("latency_ms_mean"), reference.select("latency_ms_mean"), rel_tol=1e-12
    )


def _keys(case) -> list[str]:
    by = case.get("by", [])
    by = [by] if isinstance(by, str) else list(by)
    bucket = case.get("bucket")
    return ([bucket] if bucket and bucket not in by else []) + by


CASES = [
    (dict(by=["feature", "tenant"]), [DAILY, GROUPED]),
    (dict(by=["model"], bucket="day"), [MODELS, GROUPED]),
    (dict(by=["provider", "pricing_mode"], bucket="month"), [MODELS, GROUPED]),
    (dict(by=["tenant"], where={"feature": "chat"}), [DAILY, GROUPED]),
    (dict(by=["model"], where={"tenant": None, "provider": "openai"}), [DAILY, GROUPED]),
    (dict(by=["feature"], since="2026-01-01T06:00", until="2026-01-04T13:30"), [GROUPED, DAILY]),
    (dict(by=["model"], bucket="day", tz="Europe/Berlin"), [ROWS]),
    (dict(by=["tenant"], bucket="hour"), [GROUPED]),
    (dict(by=["user_id", "feature"]), [GROUPED]),
    (dict(by=["tenant"], where={"user_id": "u2"}), [GROUPED]),
    (dict(), [MODELS, GROUPED]),
]


@pytest.mark.parametrize(("case", "sources"), CASES, ids=lambda c: str(c))
def test_latency_mean_from_the_planner_equals_every_call(ledger, case, sources):
    planned, plan = rollup(ledger, latency="mean", explain=True, **case)
    assert planned.height > 0
    assert sorted({p.source for p in plan.parts}) == sorted(sources), str(plan)
    _same(planned, _every_call(ledger, latency="mean", **case), _keys(case))


@pytest.mark.parametrize(
    "case",
    [dict(by=["feature", "tenant"]), dict(by=["model"], bucket="day", tz="Europe/Berlin")],
    ids=str,
)
def test_percentiles_read_every_call_and_equal_the_reference(ledger, case):
    planned, plan = rollup(ledger, explain=True, **case)
    assert [p.source for p in plan.parts] == [ROWS]
    reference = _every_call(ledger, **case).sort(_keys(case), nulls_last=True)
    assert_frame_equal(planned, reference, check_exact=True)


def test_a_call_committed_late_below_the_watermark_counts_at_once(ledger):
    # A slow writer's row commits with an id below the watermark the job already read: the
    # job counts it on its next run; the planner reads its day from the ledger meanwhile.
    with ledger.begin() as connection:
        gap = connection.execute(select(calls.c.id).order_by(calls.c.id.desc())).first()[0] - 3
        row = connection.execute(select(calls).where(calls.c.id == gap)).mappings().one()
        connection.execute(delete(calls).where(calls.c.id == gap))
    reaggregate(ledger, pricer=build_pricer(OVERRIDES), progress=io.StringIO(), archive=False)
    with ledger.begin() as connection:
        connection.execute(insert(calls), [dict(row)])
    case = dict(by=["feature", "tenant"], bucket="day")
    planned, plan = rollup(ledger, latency="mean", explain=True, **case)
    assert DAILY in {p.source for p in plan.parts}
    _same(planned, _every_call(ledger, latency="mean", **case), _keys(case))
    assert planned["calls"].sum() == 640


def test_after_the_job_runs_again_the_daily_table_answers_the_late_days(ledger):
    reaggregate(ledger, pricer=build_pricer(OVERRIDES), progress=io.StringIO(), archive=False)
    case = dict(by=["tenant"], bucket="day")
    planned, plan = rollup(ledger, latency="mean", explain=True, **case)
    daily = [p for p in plan.parts if p.source == DAILY]
    assert daily and daily[0].spans[0][0] == planner_module._LOW
    _same(planned, _every_call(ledger, latency="mean", **case), _keys(case))
    assert "daily rollup table" in str(plan)


def test_a_daily_table_as_large_as_the_ledger_is_left_for_the_ledgers_group_by(ledger, monkeypatch):
    # About one group per call on its newest day: reading it saves nothing.
    monkeypatch.setattr(planner_module, "DAILY_ROWS_PER_CALL", 0.05)
    case = dict(by=["feature", "tenant"])
    planned, plan = rollup(ledger, latency="mean", explain=True, **case)
    assert [p.source for p in plan.parts] == [GROUPED]
    assert "rows per call, no fewer rows to read than the ledger's" in str(plan)
    _same(planned, _every_call(ledger, latency="mean", **case), _keys(case))


def test_pruned_days_come_from_the_daily_table_or_are_refused(ledger, monkeypatch):
    reaggregate(ledger, pricer=build_pricer(OVERRIDES), progress=io.StringIO(), archive=False)
    before = {
        "mean": _every_call(ledger, by=["feature"], bucket="day", latency="mean"),
    }
    pruned = (D0 + 2) * DAY_US
    with ledger.begin() as connection:
        connection.execute(delete(calls).where(calls.c.at_us < pruned))
    monkeypatch.setattr(planner_module, "pruned_before_us", lambda connection: pruned)
    planned = rollup(ledger, by=["feature"], bucket="day", latency="mean")
    _same(planned, before["mean"], ["day", "feature"])
    with pytest.raises(CallsPruned, match=r"^calls before 2026-01-03T00:00:00Z were pruned"):
        rollup(ledger, by=["feature"], bucket="day")
    with pytest.raises(CallsPruned, match=r"'user_id' is not a key of the daily rollup"):
        rollup(ledger, by=["user_id"], latency="mean")
    # From the pruning point on, the ledger still answers everything.
    since = dict(by=["user_id"], since="2026-01-03")
    assert_frame_equal(
        rollup(ledger, **since), _every_call(ledger, **since).sort(["user_id"], nulls_last=True)
    )


def test_before_any_job_sums_are_grouped_by_the_database(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    insert_rows(engine, random_rows(300, seed=9))
    case = dict(by=["feature", "tenant"], bucket="day")
    planned, plan = rollup(engine, latency="mean", explain=True, **case)
    assert [p.source for p in plan.parts] == [GROUPED]
    assert "has not run" in str(plan)
    _same(planned, _every_call(engine, latency="mean", **case), _keys(case))
    engine.dispose()


KEYS = st.lists(
    st.sampled_from(["feature", "tenant", "user_id", "model", "provider", "pricing_mode"]),
    max_size=3,
    unique=True,
)
MOMENTS = st.one_of(st.none(), st.integers(D0 * DAY_US - DAY_US, (D0 + 6) * DAY_US))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    by=KEYS,
    bucket=st.sampled_from([None, "hour", "day", "month"]),
    tz=st.sampled_from(["UTC", "UTC", "Europe/Berlin", "+05:30"]),
    since=MOMENTS,
    until=MOMENTS,
    where=st.dictionaries(
        st.sampled_from(["feature", "tenant", "user_id", "pricing_mode"]),
        st.sampled_from([None, "chat", "acme", "u1", "batch"]),
        max_size=2,
    ),
)
def test_any_request_equals_every_call(ledger, by, bucket, tz, since, until, where):
    if since is not None and until is not None and since >= until:
        return
    case = dict(
        by=by,
        bucket=bucket,
        tz=tz,
        where=where,
        since=None if since is None else _iso(since),
        until=None if until is None else _iso(until),
    )
    planned = rollup(ledger, latency="mean", **case)
    _same(planned, _every_call(ledger, latency="mean", **case), _keys(case))


def _iso(us: int) -> str:
    return planner_module._moment(us).replace("Z", "+00:00")


def test_an_archive_answers_its_days_and_the_ledger_the_calls_it_lacks(ledger, monkeypatch):
    # A stand-in for the archive behind the planner's seam: the calls it holds (ids up to
    # `through`, before `until`) served from the ledger itself, so that nothing but the
    # planner's split is under test. Calls arriving after it was written, late into its
    # days, are the ledger's tail.
    with ledger.connect() as connection:
        through = connection.execute(select(calls.c.id).order_by(calls.c.id.desc())).first()[0]
    until = (D0 + 3) * DAY_US
    read = []

    def read_archive(query):
        read.append(query)
        held = replace(query, extra=(*query.extra, f"id <= {through}", f"at_us < {until}"))
        yield from read_batches(ledger, held)

    archive = planner_module.Archive("memory://archive", through, until, read_archive)
    monkeypatch.setattr(sql_module, "archive_of", lambda engine: archive)
    late = random_rows(10, seed=12, first_event=20_000, days=3)
    insert_rows(ledger, late)
    for case in (dict(by=["user_id"], bucket="day"), dict(by=["feature", "tenant"])):
        planned, plan = rollup(ledger, explain=True, **case)
        sources = [(p.source, p.ids_above) for p in plan.parts]
        assert sources == [(ARCHIVE, None), (ROWS, through), (ROWS, None)], str(plan)
        reference = _every_call(ledger, **case).sort(_keys(case), nulls_last=True)
        assert_frame_equal(planned, reference, check_exact=True)
        assert planned["calls"].sum() == 650
        # Sums alone, the daily table left aside: the tail above the archive's last id is
        # summed by the database.
        with monkeypatch.context() as patch:
            patch.setattr(planner_module, "DAILY_ROWS_PER_CALL", 0.0)
            planned, plan = rollup(ledger, latency="mean", explain=True, **case)
        assert (GROUPED, through) in [(p.source, p.ids_above) for p in plan.parts], str(plan)
        _same(planned, _every_call(ledger, latency="mean", **case), _keys(case))
    assert read and all(q.until_us <= until for q in read)


def test_the_real_archive_answers_its_days(database_url, tmp_path, monkeypatch):
    # The nightly job's own archive, on each database: closed days from it, the calls that
    # arrived after it was written from the ledger, percentiles included, equal to every call.
    monkeypatch.setenv("LLMLEDGER_ARCHIVE_URI", str(tmp_path / "archive"))
    engine = make_engine(database_url)
    upgrade(engine)
    insert_rows(engine, sorted(random_rows(600, seed=7), key=lambda row: row["at_us"]))
    reaggregate(engine, pricer=build_pricer(OVERRIDES), progress=io.StringIO())
    insert_rows(engine, random_rows(40, seed=8, first_event=10_000, days=5))
    for case in (dict(by=["user_id"], bucket="day"), dict(by=["feature", "tenant"])):
        planned, plan = rollup(engine, explain=True, **case)
        assert ARCHIVE in [p.source for p in plan.parts], str(plan)
        reference = _every_call(engine, **case).sort(_keys(case), nulls_last=True)
        assert_frame_equal(planned, reference, check_exact=True)
        assert planned["calls"].sum() == 640
    engine.dispose()


def test_sums_past_2_to_the_63_pico_usd_stay_exact(database_url, monkeypatch):
    # 3 x 4 million USD: SQLite's integer SUM would stop with an overflow error past 2^63
    # pico-USD; each amount is summed there as two halves.
    engine = make_engine(database_url)
    upgrade(engine)
    rows = random_rows(3, seed=13)
    for n, row in enumerate(rows):
        row.update(cost=4 * 10**18 + n, at_us=(D0 + n) * DAY_US, model="gpt-4o", tags={})
    insert_rows(engine, rows)
    total = Decimal(12 * 10**18 + 3).scaleb(-12)
    assert rollup(engine, latency="mean")["cost"].to_list() == [total]
    reaggregate(engine, progress=io.StringIO(), archive=False)
    monkeypatch.setattr(planner_module, "LOOKBACK_IDS", 0)
    monkeypatch.setattr(planner_module, "DAILY_ROWS_PER_CALL", float("inf"))
    planned, plan = rollup(engine, latency="mean", explain=True)
    assert [p.source for p in plan.parts] == [MODELS]
    assert planned["cost"].to_list() == [total]
    engine.dispose()


def test_latency_takes_percentiles_or_mean(ledger):
    frame = read_calls(ledger)
    assert rollup(frame, by="model", latency="mean").columns[-2:] == [
        "latency_ms_mean",
        "latency_ms_max",
    ]
    with pytest.raises(ValueError, match=r"^latency must be one of percentiles, mean, not 'p99'$"):
        rollup(ledger, latency="p99")
    with pytest.raises(ValueError, match=r"^explain=True tells which source answered"):
        rollup(frame, explain=True)
