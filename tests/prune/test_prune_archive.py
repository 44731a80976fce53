"""A pruned ledger's archive on SQLite, PostgreSQL and MariaDB: it keeps every pruned call
through late calls into pruned days, prices backfilled for them, later prunes and rebuilds,
exactly once (compared with a never-pruned twin), and `rollup(engine, ...)`, which reads the
archive for pruned days, equals the twin's to the pico-USD. A prune refuses calls the archive
has not written yet."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pytest
from analytics.sql_rows import D0, DAY_US, insert_rows, random_rows

from llmledger import prune, reaggregate, rollup
from llmledger.analytics.source import Query, read_batches
from llmledger.archive import ARCHIVE_COLUMNS, ENV_VARIABLE, read_archive
from llmledger.cli import main
from llmledger.pricing import build_pricer
from llmledger.prune import Pruned, PruneRefused
from prune.ledgers import HORIZON, HORIZON_US, PRICER, snapshot

CATALOG = build_pricer()  # the house model unpriced, as recorded
TAGS = ["feature", "tenant", "user_id"]
CALLS = Query(ARCHIVE_COLUMNS, tags=TAGS, backfilled=True)
ROLLUPS: list[dict[str, Any]] = [
    {"by": ["feature", "tenant"], "bucket": "day"},
    {"by": ["model"]},
    {"by": ["user_id"], "bucket": "hour", "since": "2026-01-02T06:00", "until": "2026-01-05"},
]


@pytest.fixture
def uri(tmp_path) -> str:
    return str(tmp_path / "archive")


def job(engine, pricer, **kwargs):
    return reaggregate(engine, pricer=pricer, progress=io.StringIO(), **kwargs)


def both(engine, twin, uri: str, rows=(), **kwargs) -> None:
    """`rows` into both ledgers, then the nightly job on both: `engine`'s writes the archive
    at `uri`, the twin keeps none."""
    for target in (engine, twin):
        if rows:
            insert_rows(target, list(rows))
        job(target, archive=uri if target is engine else False, **kwargs)


def cut(engine, uri: str, **kwargs) -> Pruned:
    return prune(engine, before=HORIZON, archive=uri, progress=io.StringIO(), **kwargs)


def archived_calls(uri: str) -> list[dict[str, Any]]:
    table = pa.Table.from_batches(list(read_archive(uri, CALLS)), CALLS.schema())
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def ledger_calls(engine) -> list[dict[str, Any]]:
    table = pa.Table.from_batches(list(read_batches(engine, CALLS)), CALLS.schema())
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def rollups(engine, archive: str | None, monkeypatch) -> list[list[dict]]:
    """`rollup(engine, ...)` for each of ROLLUPS (latency percentiles included), the
    database's archive at `archive` (None: no archive)."""
    if archive is None:
        monkeypatch.delenv(ENV_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(ENV_VARIABLE, archive)
    return [rollup(engine, **case).to_dicts() for case in ROLLUPS]


def assert_same(engine, twin, uri: str, monkeypatch) -> None:
    """The archive holds each closed-day call of the twin once, as the twin's ledger has it
    (its backfilled price included), and the rollups are the twin's."""
    archived = archived_calls(uri)
    assert len({r["id"] for r in archived}) == len(archived)
    assert archived == ledger_calls(twin)  # every call is on a closed day
    assert rollups(engine, uri, monkeypatch) == rollups(twin, None, monkeypatch)


def unpriced_late_rows(first_event: int) -> list[dict[str, Any]]:
    """Calls dated in the pruned days, recorded late, the house model's unpriced."""
    rows = random_rows(40, seed=11, first_event=first_event, days=3)
    assert {r["at_us"] // DAY_US for r in rows} == {D0, D0 + 1, D0 + 2}
    assert sum(r["cost"] is None for r in rows) > 5
    return rows


def test_the_archive_keeps_pruned_calls_through_late_calls_backfills_and_rebuilds(
    engine, twin, uri, monkeypatch
):
    both(engine, twin, uri, random_rows(300, seed=4, days=6), pricer=PRICER)
    assert_same(engine, twin, uri, monkeypatch)
    pruned = cut(engine, uri)
    assert pruned.calls == sum(r["at_us"] < HORIZON_US for r in ledger_calls(twin)) > 100
    assert_same(engine, twin, uri, monkeypatch)

    # Late calls into the pruned days: each run rewrites those days (every day, looking
    # 10,000 ids back), from the archived calls plus the ledger's.
    late = unpriced_late_rows(first_event=1_000)
    both(engine, twin, uri, late, pricer=CATALOG)
    archived = {r["event_id"]: r for r in archived_calls(uri)}
    assert all(archived[r["event_id"]]["backfilled_cost"] is None for r in late)
    assert_same(engine, twin, uri, monkeypatch)
    # Their prices backfilled: the ledger's row replaces the archived one of the same call.
    both(engine, twin, uri, pricer=PRICER)
    archived = {r["event_id"]: r for r in archived_calls(uri)}
    assert all(archived[r["event_id"]]["backfilled_cost"] for r in late if r["cost"] is None)
    assert_same(engine, twin, uri, monkeypatch)

    # The late calls pruned too; then a run with nothing new, and a rebuild.
    assert cut(engine, uri).calls == len(late) - 1  # the ledger's newest call by id stays
    assert_same(engine, twin, uri, monkeypatch)
    both(engine, twin, uri, pricer=PRICER)
    assert_same(engine, twin, uri, monkeypatch)
    both(engine, twin, uri, pricer=PRICER, rebuild=True)
    assert_same(engine, twin, uri, monkeypatch)
    # A late call after the rebuild, and a rebuild with a late call not yet rolled up.
    both(engine, twin, uri, random_rows(5, seed=12, first_event=2_000, days=2), pricer=PRICER)
    assert_same(engine, twin, uri, monkeypatch)
    for target in (engine, twin):
        insert_rows(target, random_rows(5, seed=13, first_event=3_000, days=2))
    both(engine, twin, uri, pricer=PRICER, rebuild=True)
    assert_same(engine, twin, uri, monkeypatch)


def test_a_prune_refuses_calls_the_archive_has_not_written(engine, uri, capsys):
    insert_rows(engine, random_rows(300, seed=4, days=6))
    job(engine, archive=uri, pricer=PRICER)
    # Rolled up, but not archived: late calls, and unpriced ones priced since.
    insert_rows(engine, unpriced_late_rows(first_event=1_000))
    job(engine, archive=False, pricer=CATALOG)
    before = snapshot(engine)
    # 39: the newest of the 40 by id is never pruned (`prune.batches`).
    with pytest.raises(PruneRefused) as refused:
        cut(engine, uri)
    assert str(refused.value) == (
        "not pruning calls before 2026-01-04 00:00 UTC: 39 of its calls are not in the "
        f"archive at {uri} yet, and a pruned call's row lives on only there: run llmledger "
        "reaggregate first"
    )
    job(engine, archive=uri, pricer=CATALOG)
    job(engine, archive=False, pricer=PRICER)
    with pytest.raises(
        PruneRefused,
        match="^not pruning calls before 2026-01-04 00:00 "
        r"UTC: the prices of \d+ of its calls are not in the archive",
    ):
        cut(engine, uri)
    url = engine.url.render_as_string(hide_password=False)
    argv = ["prune", "--db", url, "--before", "2026-01-04", "--archive", uri, "--yes"]
    assert main(argv) == 1
    assert "the prices of" in capsys.readouterr().err
    assert snapshot(engine)["events"] == before["events"]  # nothing deleted
    # Once the nightly job has archived them, they go.
    job(engine, archive=uri, pricer=PRICER)
    assert cut(engine, uri).calls > 100


def test_without_an_archive_a_prune_goes_on(engine, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    insert_rows(engine, random_rows(300, seed=4, days=6))
    job(engine, archive=False, pricer=PRICER)
    insert_rows(engine, unpriced_late_rows(first_event=1_000))
    job(engine, archive=False, pricer=PRICER)
    # No table at the location given (nor beside a SQLite file): the daily rollup keeps sums.
    assert cut(engine, str(tmp_path / "nowhere")).calls > 100
