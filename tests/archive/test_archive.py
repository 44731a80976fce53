"""The archive on SQLite, PostgreSQL and MariaDB: it holds exactly the ledger's calls of the
closed days, reads back as SQL reads them, is rewritten one changed day at a time in one
commit, and answers `rollup()` alone."""

from __future__ import annotations

import datetime as dt
import os

import polars as pl
import pyarrow as pa
import pytest
from analytics.sql_rows import D0, DAY_US, insert_rows, random_rows
from deltalake import DeltaTable
from sqlalchemy import func, select

from archive.ledgers import PRICED_LATER, QUERIES, archive_then_change, by_id, run
from llmledger.analytics import archived as archived_module
from llmledger.analytics import pooled as pooled_module
from llmledger.analytics import rollup
from llmledger.analytics import sql as sql_module
from llmledger.analytics.source import read_batches
from llmledger.archive import archive_closed_days, archive_state, read_archive
from llmledger.archive import write as archive_write
from llmledger.store import make_engine, upgrade
from llmledger.store.schema import calls


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def uri(tmp_path) -> str:
    return str(tmp_path / "archive")


def max_id(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.max(calls.c.id))).scalar_one()


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_read_archive_equals_read_batches(engine, uri, query):
    archive_then_change(engine, uri)
    archived = by_id(read_archive(uri, query), query.schema())
    assert archived == by_id(read_batches(engine, query), query.schema())


def test_the_archive_holds_every_call_with_its_backfill_and_tags(engine, uri):
    first, second = archive_then_change(engine, uri)
    assert (first.archive.days, first.archive.calls, first.archive.rebuilt) == (5, 300, True)
    # Late calls on three days, backfilled calls on all five: every day rewritten.
    assert (second.archive.days, second.archive.calls, second.archive.rebuilt) == (5, 360, False)
    assert str(second).endswith(
        f"archive: 360 calls of 5 closed days written to {uri} (through id 360, days before "
        f"{dt.datetime.now(dt.UTC).date().isoformat()})"
    )
    state = archive_state(uri)
    today = dt.datetime.now(dt.UTC).date()
    assert state.through_id == max_id(engine) == 360
    assert state.until_us == (today - dt.date(1970, 1, 1)).days * DAY_US
    assert set(state.tag_keys) == {"feature", "tenant", "user_id", "region"}
    table = pl.read_delta(uri)
    assert table.height == 360
    priced_later = table.filter(pl.col("model") == "house-model")
    assert priced_later.height > 0
    assert priced_later["cost"].null_count() == priced_later.height  # recorded: unpriced
    assert priced_later["backfilled_cost"].null_count() == 0
    assert table.filter(pl.col("tags.region").is_not_null()).height == 40


def files_by_day(uri: str) -> dict[str, list[str]]:
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pylist()
    found: dict[str, list[str]] = {}
    for action in actions:
        found.setdefault(str(action["partition.day"]), []).append(action["path"])
    return found


@pytest.fixture
def no_lookback(monkeypatch):
    """A run looks 10,000 ids back for a server's slow writers: in these small ledgers, that
    is every call, and every day would be rewritten."""
    monkeypatch.setattr(archive_write, "LOOKBACK_IDS", 0)


def test_a_late_call_replaces_its_day_alone_in_one_commit(engine, uri, no_lookback):
    insert_rows(engine, random_rows(300, seed=3))
    run(engine, uri)
    before, version = files_by_day(uri), DeltaTable(uri).version()
    late = random_rows(1, seed=11, first_event=300, days=1)  # dated 2026-01-01
    insert_rows(engine, late)
    summary = run(engine, uri)
    day_calls = sum(1 for r in random_rows(300, seed=3) if r["at_us"] // DAY_US == D0) + 1
    assert (summary.archive.days, summary.archive.calls) == (1, day_calls)
    table = DeltaTable(uri)
    assert table.version() == version + 1
    assert table.history(1)[0]["operationParameters"]["predicate"] == "day = '2026-01-01'::date"
    after = files_by_day(uri)
    assert after.keys() == before.keys()
    assert [d for d in after if after[d] != before[d]] == ["2026-01-01"]
    assert archive_state(uri).through_id == 301
    assert pl.read_delta(uri).filter(pl.col("id") == 301)["event_id"].to_list() == [
        late[0]["event_id"]
    ]


def test_only_closed_days_are_archived_and_days_closing_later_are_added(engine, uri, no_lookback):
    insert_rows(engine, random_rows(300, seed=3))
    newest = max_id(engine)
    # "Now" is on the fourth day: the first three are closed.
    first = archive_closed_days(engine, uri, newest, now_us=(D0 + 3) * DAY_US + 5)
    expected = [r for r in random_rows(300, seed=3) if r["at_us"] < (D0 + 3) * DAY_US]
    assert (first.days, first.calls, first.until) == (3, len(expected), dt.date(2026, 1, 4))
    assert pl.read_delta(uri).height == len(expected)
    assert archive_state(uri).until_us == (D0 + 3) * DAY_US
    # No new call since, but two more days have closed.
    second = archive_closed_days(engine, uri, newest, now_us=(D0 + 5) * DAY_US)
    assert (second.days, second.calls) == (2, 300 - len(expected))
    assert pl.read_delta(uri).height == 300
    # Nothing changed: an empty commit, the table as it was.
    third = archive_closed_days(engine, uri, newest, now_us=(D0 + 5) * DAY_US)
    assert (third.days, third.calls) == (0, 0)
    assert pl.read_delta(uri).height == 300


def test_a_later_run_backfills_an_archived_day(engine, uri):
    insert_rows(engine, random_rows(300, seed=3))
    run(engine, uri)
    assert pl.read_delta(uri)["backfilled_cost"].null_count() == 300
    summary = run(engine, uri, pricer=PRICED_LATER)
    assert summary.archive.days == 5  # the house model's calls are on every day
    archived = pl.read_delta(uri).filter(pl.col("backfilled_cost").is_not_null())
    assert archived.height == summary.backfilled_calls > 0
    assert archived["backfilled_cost"].sum() == int(summary.backfilled_cost.scaleb(12))


@pytest.mark.parametrize(
    "by, options",
    [
        (["feature", "tenant"], {}),
        (["model"], {"bucket": "day"}),
        (["region", "provider"], {"bucket": "hour", "tz": "Asia/Kolkata"}),
        (["tenant"], {"since": "2026-01-02T06:00:00", "until": "2026-01-04T18:30:00"}),
        (["user_id"], {"where": {"feature": "chat", "region": None}}),
        (["pricing_mode"], {"reprice": True}),
    ],
)
def test_rollup_of_the_archive_equals_rollup_of_the_database(engine, uri, by, options):
    archive_then_change(engine, uri)
    keys = ([options["bucket"]] if "bucket" in options else []) + by
    from_archive = rollup(uri, by, **options).sort(keys, nulls_last=True)
    from_database = rollup(engine, by, **options).sort(keys, nulls_last=True)
    assert from_archive.height > 0
    assert from_archive.to_dicts() == from_database.to_dicts()


@pytest.mark.parametrize("latency", ["percentiles", "mean"])
@pytest.mark.parametrize(
    "by, options",
    [(["feature", "tenant"], {}), (["model"], {"bucket": "day"}), ([], {}), (["user_id"], {})],
)
def test_a_rollup_of_the_archive_in_parts_gives_the_one_part_result(
    engine, uri, monkeypatch, by, options, latency
):
    archive_then_change(engine, uri)
    keys = ([options["bucket"]] if "bucket" in options else []) + by
    whole = rollup(uri, by, latency=latency, **options).sort(keys, nulls_last=True)
    merged: list[int] = []

    def counting(merge):
        def counted(parts, keys):
            merged.append(len(parts))
            return merge(parts, keys)

        return counted

    for name in ("merge_parts", "merge_sums"):
        monkeypatch.setattr(sql_module, name, counting(getattr(sql_module, name)))
    monkeypatch.setattr(archived_module, "ARCHIVE_PART_ROWS", 50)
    # The pooled latencies handed to the core in runs of a few groups.
    monkeypatch.setattr(pooled_module, "POOLED_VALUES", 20)
    in_parts = rollup(uri, by, latency=latency, **options).sort(keys, nulls_last=True)
    assert len(merged) == 1 and merged[0] > 2
    assert in_parts.columns == whole.columns
    assert "latency_ms_p95" in whole.columns or latency == "mean"
    # The mean of latency sums merged from parts may differ in its last bits (floating point).
    exact = [c for c in whole.columns if c != "latency_ms_mean" or latency == "percentiles"]
    assert in_parts.select(exact).to_dicts() == whole.select(exact).to_dicts()
    assert in_parts["latency_ms_mean"].to_list() == pytest.approx(
        whole["latency_ms_mean"].to_list(), rel=1e-12
    )


def test_a_server_database_without_a_location_keeps_no_archive(engine, monkeypatch):
    if engine.dialect.name == "sqlite":
        pytest.skip("a SQLite file's archive sits beside it")
    monkeypatch.delenv("LLMLEDGER_ARCHIVE_URI", raising=False)
    insert_rows(engine, random_rows(10, seed=3))
    summary = run(engine, True)
    assert summary.archive.startswith("no archive")
    assert str(summary).endswith(
        "; no archive (a server database keeps one only where LLMLEDGER_ARCHIVE_URI or "
        "--archive says)"
    )


def test_a_sqlite_ledgers_archive_sits_beside_it_and_the_environment_moves_it(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("LLMLEDGER_ARCHIVE_URI", raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    insert_rows(engine, random_rows(20, seed=3))
    assert run(engine, True).archive.uri == str(tmp_path / "ledger.db.archive")
    assert pl.read_delta(str(tmp_path / "ledger.db.archive")).height == 20
    monkeypatch.setenv("LLMLEDGER_ARCHIVE_URI", str(tmp_path / "elsewhere"))
    assert run(engine, True).archive.uri == str(tmp_path / "elsewhere")
    assert pl.read_delta(str(tmp_path / "elsewhere")).height == 20
    engine.dispose()


def test_a_delta_table_the_job_did_not_write_is_left_alone(engine, uri):
    pl.DataFrame({"x": [1]}).write_delta(uri)
    insert_rows(engine, random_rows(10, seed=3))
    with pytest.raises(ValueError, match="not a ledger's archive: not touched"):
        run(engine, uri)
    assert pl.read_delta(uri).to_dicts() == [{"x": 1}]
    assert os.listdir(uri) != []


def test_a_tag_the_archive_lacks_is_named_a_column_is_not(engine, uri):
    from llmledger import UnknownTagWarning

    insert_rows(engine, random_rows(50, seed=3))
    run(engine, uri)
    with pytest.warns(UnknownTagWarning, match="no call in the window has the tag 'tenantt'"):
        rollup(uri, ["tenantt"], where={"status": "ok"})
    assert rollup(uri, ["tenant"], where={"status": "ok"})["calls"].sum() == 50
