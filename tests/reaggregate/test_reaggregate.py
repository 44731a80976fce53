"""The nightly job on SQLite, PostgreSQL and MariaDB: incremental runs equal a rebuild, a run
killed midway and rerun ends in the same state, unpriced calls are backfilled once priced."""

from __future__ import annotations

import datetime as dt
import io
import os
from decimal import Decimal

import polars as pl
import pytest
from analytics.sql_rows import D0, DAY_US, insert_rows, random_rows
from sqlalchemy import func, select

from llmledger.analytics import reprice, rollup
from llmledger.pricing import build_pricer
from llmledger.reaggregate import AlreadyRunning, Summary, reaggregate
from llmledger.reaggregate.job import run_job
from llmledger.reaggregate.lock import one_run_at_a_time
from llmledger.store import make_engine, upgrade
from llmledger.store.derived import backfill, daily_models, daily_rollup, state
from llmledger.store.read import read_calls
from llmledger.store.schema import BUCKETS, calls, price_snapshots

HOUSE = {
    "models": [
        {
            "provider": "acme-gateway",
            "model": "house-model",
            "prices": {"input_mtok": "1.25", "output_mtok": "5"},
        }
    ]
}
CATALOG = build_pricer()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def run(engine, **kwargs) -> Summary:
    return reaggregate(
        engine, pricer=kwargs.pop("pricer", CATALOG), progress=io.StringIO(), **kwargs
    )


def table(engine) -> list[tuple]:
    with engine.connect() as connection:
        query = select(daily_rollup).order_by(daily_rollup.c.day, daily_rollup.c.group_key)
        return [tuple(r) for r in connection.execute(query)]


def watermark(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(state.c.watermark_id)).scalar_one()


def late_rows(n: int, first_event: int) -> list[dict]:
    """Rows recorded now (higher ids) for the first two days, already rolled up."""
    return random_rows(n, seed=99, first_event=first_event, days=2)


def test_incremental_runs_equal_a_rebuild(engine):
    insert_rows(engine, random_rows(300, seed=1))
    first = run(engine)
    assert (first.new_calls, first.late_calls, first.days, first.watermark) == (300, 0, 5, 300)
    # New days after the last one, and late arrivals dated on the first two days.
    insert_rows(engine, [*random_rows(50, seed=2, first_event=300, days=7), *late_rows(40, 350)])
    second = run(engine)
    assert second.new_calls == 90
    newest = dt.date(2026, 1, 5)
    with engine.connect() as connection:
        expected_late = connection.execute(
            select(func.count()).where(
                calls.c.id > 300, calls.c.at_us < (newest - dt.date(1970, 1, 1)).days * DAY_US
            )
        ).scalar_one()
    assert second.late_calls == expected_late >= 40
    incremental = table(engine)
    assert run(engine).days == 0  # nothing new: nothing recomputed
    assert table(engine) == incremental
    rebuilt = run(engine, rebuild=True)
    assert rebuilt.rebuilt and rebuilt.days == 7
    assert table(engine) == incremental
    assert watermark(engine) == 390


def test_rollup_rows_hold_exact_sums(engine):
    rows = random_rows(200, seed=5)
    insert_rows(engine, rows)
    run(engine)
    with engine.connect() as connection:
        totals = connection.execute(
            select(
                func.sum(daily_rollup.c.calls),
                func.sum(daily_rollup.c.cost),
                func.sum(daily_rollup.c.input_tokens),
                func.sum(daily_rollup.c.unpriced_calls),
            )
        ).one()
    assert [int(t) for t in totals] == [
        200,
        sum(r["cost"] or 0 for r in rows),
        sum(r["input_tokens"] for r in rows),
        sum(r["cost"] is None for r in rows),
    ]
    one = [
        r
        for r in rows
        if r["at_us"] // DAY_US == D0 + 2
        and (r["provider"], r["model"], r["pricing_mode"]) == ("openai", "gpt-4o", "batch")
        and r["tags"].get("feature") == "chat"
        and r["tags"].get("tenant") == "acme"
    ]
    with engine.connect() as connection:
        stored = (
            connection.execute(
                select(daily_rollup).where(
                    daily_rollup.c.day == dt.date(2026, 1, 3),
                    daily_rollup.c.model == "gpt-4o",
                    daily_rollup.c.pricing_mode == "batch",
                )
            )
            .mappings()
            .all()
        )
    group = [s for s in stored if s["tags"] == {"feature": "chat", "tenant": "acme"}]
    if one:
        (g,) = group
        assert g["calls"] == len(one)
        assert g["cost"] == sum(r["cost"] for r in one)
        assert [g[b] for b in BUCKETS] == [sum(r[b] for r in one) for b in BUCKETS]
    else:
        assert group == []


class Killed(Exception):
    pass


def test_killed_midway_then_rerun_ends_as_a_rebuild(engine):
    insert_rows(engine, random_rows(200, seed=3))
    run(engine)
    insert_rows(engine, [*random_rows(60, seed=4, first_event=200, days=6), *late_rows(30, 260)])
    done = []

    def kill_after_two_days(day: int) -> None:
        done.append(day)
        if len(done) == 2:
            raise Killed

    with pytest.raises(Killed):
        run_job(engine, CATALOG, progress=io.StringIO(), _after_day=kill_after_two_days)
    assert watermark(engine) == 200  # not moved: the rerun redoes every affected day
    rerun = run(engine)
    assert rerun.new_calls == 90
    assert watermark(engine) == 290
    incremental = table(engine)
    run(engine, rebuild=True)
    assert table(engine) == incremental


def test_killed_rebuild_is_finished_by_the_next_plain_run(engine):
    insert_rows(engine, random_rows(150, seed=8))
    run(engine)
    expected = table(engine)

    def kill(day: int) -> None:
        raise Killed

    with pytest.raises(Killed):
        run_job(engine, CATALOG, rebuild=True, progress=io.StringIO(), _after_day=kill)
    assert len(table(engine)) < len(expected)
    run(engine)
    assert table(engine) == expected


def house_call(n: int, day: int) -> dict:
    (row,) = random_rows(1, seed=n, first_event=1000 + n)
    return {
        **row,
        "at_us": (D0 + day) * DAY_US + n,
        "provider": "acme-gateway",
        "model": "house-model",
        **dict.fromkeys(BUCKETS, 0),
        "input_tokens": 1000,
        "output_tokens": 200,
        "cost": None,
        "pricing_mode": "standard",
        "status": "ok",
        "tags": {"feature": "chat", "tenant": "acme"},
    }


def test_unpriced_calls_are_backfilled_once_a_price_exists(engine):
    insert_rows(engine, [house_call(1, 0), house_call(2, 0), house_call(3, 3)])
    first = run(engine)
    assert (first.backfilled_calls, first.unpriced_calls) == (0, 3)
    assert "3 calls unpriced" in str(first)

    pricer = build_pricer(HOUSE)
    second = run(engine, pricer=pricer)
    # 1000 input tokens at $1.25/Mtok + 200 output at $5/Mtok = $0.00125 + $0.001 each.
    assert second.backfilled_calls == 3
    assert second.backfilled_cost == Decimal("0.00675")
    assert second.snapshot_id == pricer.snapshot_id
    assert second.unpriced_calls == 0 and second.days == 2
    assert "backfilled 3 unpriced calls at $0.0068 with snapshot" in str(second)
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).where(calls.c.cost.is_(None))).scalar_one() == 3
        )
        stored = connection.execute(select(backfill).order_by(backfill.c.call_id)).mappings().all()
        assert [(b["call_id"], b["cost"], b["price_model"]) for b in stored] == [
            (1, 2_250_000_000, "house-model"),
            (2, 2_250_000_000, "house-model"),
            (3, 2_250_000_000, "house-model"),
        ]
        assert {b["price_snapshot_id"] for b in stored} == {pricer.snapshot_id}
        assert (
            connection.execute(
                select(func.count()).where(price_snapshots.c.id == pricer.snapshot_id)
            ).scalar_one()
            == 1
        )
        day0 = (
            connection.execute(
                select(daily_rollup).where(daily_rollup.c.day == dt.date(2026, 1, 1))
            )
            .mappings()
            .one()
        )
    assert (day0["calls"], day0["unpriced_calls"], day0["backfilled_calls"]) == (2, 0, 2)
    assert (day0["cost"], day0["backfilled_cost"]) == (0, 4_500_000_000)

    third = run(engine, pricer=pricer)
    assert (third.backfilled_calls, third.days) == (0, 0)
    before = table(engine)
    run(engine, pricer=pricer, rebuild=True)
    assert table(engine) == before


def test_changing_tag_keys_needs_a_rebuild(engine):
    insert_rows(engine, random_rows(50, seed=6))
    run(engine)
    with pytest.raises(ValueError, match="--rebuild"):
        run(engine, tag_keys=["user_id"])
    run(engine, tag_keys=["user_id"], rebuild=True)
    with engine.connect() as connection:
        tags = connection.execute(select(daily_rollup.c.tags)).scalars().all()
    assert {frozenset(t) for t in tags} == {frozenset({"user_id"})}


def test_a_row_committed_late_below_the_watermark_is_counted_by_the_next_run(engine):
    rows = random_rows(100, seed=11)
    for i, row in enumerate(rows, start=1):
        row["id"] = i
    slow = rows.pop(54)  # id 55: a writer whose transaction commits after the job's run
    insert_rows(engine, rows)
    run(engine)
    insert_rows(engine, [slow])
    insert_rows(engine, [{**random_rows(1, seed=12, first_event=500)[0], "id": 101}])
    run(engine)
    incremental = table(engine)
    run(engine, rebuild=True)
    assert table(engine) == incremental
    with engine.connect() as connection:
        assert connection.execute(select(func.sum(daily_rollup.c.calls))).scalar_one() == 101


def test_cli_subcommand_prints_one_summary_line(tmp_path, capsys):
    import argparse

    from llmledger.reaggregate import add_parser

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    insert_rows(engine, random_rows(40, seed=13))
    engine.dispose()
    parser = argparse.ArgumentParser(prog="llmledger")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["reaggregate", "--db", url])
    assert args.func(args) == 0
    out, err = capsys.readouterr()
    assert out.startswith("reaggregate: 40 new calls (0 late), 5 days recomputed, watermark id 40;")
    assert out.count("\n") == 1
    assert "reaggregate days: 5" in err  # the progress bar's closing line, on stderr
    args = parser.parse_args(["reaggregate", "--db", url, "--tags", "user_id"])
    assert args.func(args) == 2
    assert "--rebuild" in capsys.readouterr().err
    with one_run_at_a_time(make_engine(url)):
        args = parser.parse_args(["reaggregate", "--db", url])
        assert args.func(args) == 3
    assert "is running on this database" in capsys.readouterr().err


def test_a_second_run_at_once_stops_before_touching_anything(engine):
    insert_rows(engine, random_rows(30, seed=17))
    with one_run_at_a_time(engine):  # another run, holding the database's lock
        with pytest.raises(
            AlreadyRunning, match="another `llmledger reaggregate` or `llmledger prune` is running"
        ):
            run(engine)
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(state)).scalar_one() == 0
    assert run(engine).new_calls == 30  # the lock is free again once that run ends


def test_runs_on_two_databases_of_one_server_do_not_stop_each_other(engine, tmp_path):
    # MySQL's named locks are the server's: the lock must still be one database's. The other
    # database is the test server's own (the `engine` fixture's is a fresh one beside it).
    servers = {"postgresql": "LLMLEDGER_TEST_POSTGRES_URL", "mysql": "LLMLEDGER_TEST_MYSQL_URL"}
    backend = engine.dialect.name
    other_url = (
        f"sqlite:///{tmp_path / 'other.db'}"
        if backend == "sqlite"
        else os.environ[servers[backend]]
    )
    other = make_engine(other_url)
    try:
        with one_run_at_a_time(other), one_run_at_a_time(engine):
            pass
    finally:
        other.dispose()


def test_backfilled_costs_count_in_calls_and_rollups(engine):
    # The recorded rows keep their NULL cost; every read shows the later price beside it.
    gpt = {**house_call(3, 1), "provider": "openai", "model": "gpt-4o", "cost": 4_500_000_000}
    insert_rows(engine, [house_call(1, 0), house_call(2, 0), gpt])
    before = rollup(read_calls(engine), by=["model"]).sort("model")
    assert before.select("model", "unpriced_calls", "cost", "backfilled_cost").rows() == [
        ("gpt-4o", 0, Decimal("0.0045"), Decimal(0)),
        ("house-model", 2, None, Decimal(0)),
    ]
    pricer = build_pricer(HOUSE)
    run(engine, pricer=pricer)

    frame = read_calls(engine)
    assert frame["cost"].to_list() == [None, None, Decimal("0.0045")]
    assert frame["backfilled_cost"].to_list() == [Decimal("0.00225"), Decimal("0.00225"), None]
    rule = frame.select(
        "backfilled_price_snapshot_id", "backfilled_price_source", "backfilled_price_model"
    ).rows()
    assert rule == [(pricer.snapshot_id, "override", "house-model")] * 2 + [(None, None, None)]
    assert frame["price_model"].to_list() == [None, None, None]  # the recorded rule: none

    for source in (engine, frame):
        by_model = rollup(source, by=["model"]).sort("model")
        assert by_model.select("model", "unpriced_calls", "cost", "backfilled_cost").rows() == [
            ("gpt-4o", 0, Decimal("0.0045"), Decimal(0)),
            ("house-model", 0, Decimal("0.0045"), Decimal("0.0045")),
        ]
        total = rollup(source, by=["tenant"], where={"feature": "chat"})
        assert total.select("calls", "unpriced_calls", "cost", "backfilled_cost").rows() == [
            (3, 0, Decimal("0.009"), Decimal("0.0045"))
        ]
        by_day = rollup(source, bucket="day").sort("day")
        assert by_day.select("cost", "backfilled_cost").rows() == [
            (Decimal("0.0045"), Decimal("0.0045")),
            (Decimal("0.0045"), Decimal(0)),
        ]
        # Against the backfill's own catalog the backfilled calls differ by nothing.
        what_if = reprice(source, catalog=pricer, by=["model"]).sort("model")
        assert what_if.filter(pl.col("model") == "house-model")["cost_difference"].to_list() == [
            Decimal(0)
        ]
    per_call = reprice(engine, catalog=pricer)
    assert per_call["cost_difference"].to_list()[:2] == [Decimal(0), Decimal(0)]


def models_table(engine) -> list[tuple]:
    with engine.connect() as connection:
        keys = [daily_models.c[k] for k in ("day", "provider", "model", "pricing_mode")]
        return [tuple(r) for r in connection.execute(select(daily_models).order_by(*keys))]


def daily_summed_over_tags(engine) -> list[tuple]:
    """The daily rollup's rows summed over their tags, in Python, exactly."""
    keys, columns = daily_models.c.keys()[:4], daily_models.c.keys()[4:]
    summed: dict[tuple, dict] = {}
    for row in table(engine):
        values = dict(zip(daily_rollup.c.keys(), row, strict=True))
        empty = {**dict.fromkeys(columns[:-1], 0), "latency_ms_max": None}
        held = summed.setdefault(tuple(values[k] for k in keys), empty)
        for column in columns[:-1]:
            held[column] += values[column]
        maxima = [m for m in (held["latency_ms_max"], values["latency_ms_max"]) if m is not None]
        held["latency_ms_max"] = max(maxima, default=None)
    return [(*k, *v.values()) for k, v in sorted(summed.items())]


def _same_models(engine) -> None:
    # Exact but for the latency sum, a float added in another order.
    at = daily_models.c.keys().index("latency_ms_sum")
    found, expected = models_table(engine), daily_summed_over_tags(engine)
    assert [r[:at] + r[at + 1 :] for r in found] == [r[:at] + r[at + 1 :] for r in expected]
    for got, want in zip(found, expected, strict=True):
        assert got[at] == pytest.approx(want[at], rel=1e-12)


def test_the_daily_models_table_is_the_daily_rollup_summed_over_its_tags(engine):
    insert_rows(engine, random_rows(300, seed=1))
    run(engine)
    assert len(models_table(engine)) < len(table(engine))
    _same_models(engine)
    insert_rows(engine, [*random_rows(50, seed=2, first_event=300, days=7), *late_rows(40, 350)])
    run(engine)
    _same_models(engine)
    before = models_table(engine)
    run(engine, rebuild=True)
    assert models_table(engine) == before


def test_upgrading_a_rolled_up_database_fills_the_daily_models_table(engine):
    # A database at revision 0007 whose job already ran: migration 0008 sums its daily rollup.
    insert_rows(engine, random_rows(300, seed=1))
    run(engine)
    expected = models_table(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE llmledger_daily_models")
        connection.exec_driver_sql("UPDATE llmledger_alembic_version SET version_num = '0007'")
    upgrade(engine)
    assert models_table(engine) == expected != []
