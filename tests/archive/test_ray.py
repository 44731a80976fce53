"""`rollup(archive_uri, engine="ray")` on a local Ray cluster of 2 CPUs: the same frame as the
local path, row for row and to the pico-USD, over several files, a tag that appears only in
later calls, files the window or a filter leaves empty, time buckets in zones other than UTC."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
import ray
from analytics.sql_rows import DAY_US, insert_rows, random_rows
from polars.testing import assert_frame_equal

from archive.ledgers import archive_then_change, later_rows, run
from llmledger import UnknownTagWarning
from llmledger.analytics import on_ray, rollup
from llmledger.analytics.memory import merge_parts
from llmledger.analytics.on_ray import rollup_archive_on_ray
from llmledger.store import make_engine, upgrade


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def uri(tmp_path_factory) -> str:
    """An archive of 8 days: 5 written, changed by late calls (some with a tag no earlier call
    has) and backfilled prices, then 3 more days whose calls all carry that tag."""
    folder = tmp_path_factory.mktemp("ray")
    engine = make_engine(f"sqlite:///{folder / 'ledger.db'}")
    upgrade(engine)
    uri = str(folder / "archive")
    archive_then_change(engine, uri)
    rows = random_rows(90, seed=5, first_event=360, days=3)
    for row in rows:
        row["at_us"] += 5 * DAY_US
    insert_rows(engine, rows)
    insert_rows(engine, later_rows(30, first_event=450, seed=9))
    run(engine, uri)
    engine.dispose()
    return uri


MID_DAY = dt.datetime(2026, 1, 4, 7, 30, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 1, 6, 20, 0, tzinfo=dt.UTC)

CASES = {
    "total": {},
    "tenant": {"by": ["tenant"]},
    "feature, tenant by day": {"by": ["feature", "tenant"], "bucket": "day"},
    "a tag of later calls": {"by": ["region", "model"]},
    "an integer column": {"by": ["http_status", "pricing_mode"]},
    "hours in Kolkata": {"by": ["model"], "bucket": "hour", "tz": "Asia/Kolkata"},
    "days in New York": {"by": ["day", "provider"], "tz": "America/New_York"},
    "months at an offset": {"by": ["month"], "tz": "-09:30"},
    "a where filter": {"by": ["feature"], "where": {"tenant": "acme", "feature": None}},
    "a filter most files lack": {"by": ["tenant"], "where": {"region": "us"}},
    "a window ending mid-day": {"by": ["tenant"], "since": "2026-01-02", "until": MID_DAY},
    "re-priced": {"by": ["model"], "reprice": True},
}


@pytest.mark.parametrize("options", CASES.values(), ids=CASES.keys())
def test_rollup_on_ray_is_the_local_rollup_row_for_row(uri, options):
    local = rollup(uri, **options)
    assert local["calls"].sum() > 0
    assert_frame_equal(rollup(uri, engine="ray", **options), local, check_exact=True)


def test_every_call_is_counted_once_over_every_file(uri):
    result = rollup(uri, ["day"], engine="ray")
    assert result["calls"].to_list() == rollup(uri, ["day"])["calls"].to_list()
    assert result["calls"].sum() == 480
    assert result.height == 8


@pytest.mark.parametrize(
    "options",
    [
        {"since": "2027-01-01"},
        {"where": {"region": "nowhere"}, "by": ["tenant"]},
        {"where": {"region": "nowhere"}},
    ],
    ids=["no file in the window", "no call matches", "no call matches, in total"],
)
def test_no_call_gives_the_local_paths_empty_answer(uri, options):
    assert_frame_equal(rollup(uri, engine="ray", **options), rollup(uri, **options))


@pytest.mark.parametrize("by", [["tenant"], ["feature", "tenant"], []], ids=str)
def test_parts_rolled_up_on_ray_merge_into_the_whole(uri, by):
    """A planner's use: parts of a window rolled up on Ray with their latencies kept, then
    merged (with each other or a part from another source) into the whole window's rollup."""
    keys, tz = ["day", *by], "Asia/Kolkata"
    parts = [
        rollup_archive_on_ray(uri, keys, until=LATE, tz=tz, latency_values=True),
        rollup_archive_on_ray(uri, keys, since=LATE, tz=tz, latency_values=True),
    ]
    assert all("latency_ms_values" in p.columns for p in parts)
    merged = merge_parts(parts, keys).sort(keys, nulls_last=True)
    whole = rollup(uri, keys, tz=tz).sort(keys, nulls_last=True)
    assert_frame_equal(merged, whole, check_exact=True)


def test_a_tag_the_archive_lacks_is_warned_of(uri):
    with pytest.warns(UnknownTagWarning, match="tenantt"):
        result = rollup(uri, ["tenantt"], engine="ray")
    assert result["tenantt"].to_list() == [None]
    assert result["calls"].to_list() == [480]


def test_a_zone_that_does_not_exist_is_the_local_paths_error(uri):
    with pytest.raises(ValueError) as local:
        rollup(uri, ["day"], tz="Mars/Olympus")
    with pytest.raises(ValueError) as on_ray:
        rollup(uri, ["day"], tz="Mars/Olympus", engine="ray")
    assert type(on_ray.value) is type(local.value)
    assert str(on_ray.value) == str(local.value)


def test_the_applications_ray_is_used():
    assert ray.cluster_resources()["CPU"] == 2  # the module's, not one rollup started


def test_only_an_archive_rolls_up_on_ray(tmp_path):
    with pytest.raises(ValueError, match="engine='ray' rolls up a ledger's archive"):
        rollup(f"sqlite:///{tmp_path / 'ledger.db'}", engine="ray")
    with pytest.raises(ValueError, match="engine must be 'local' or 'ray', not 'spark'"):
        rollup(str(tmp_path), engine="spark")


def test_without_ray_the_error_says_what_to_install(uri, monkeypatch):
    on_ray._ray.cache_clear()
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install 'llmledger\[ray\]'"):
        rollup(uri, engine="ray")
    on_ray._ray.cache_clear()


def test_importing_llmledger_does_not_import_ray():
    code = "import sys, llmledger; print('ray' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    found = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert found.stdout == "False\n", found.stderr
