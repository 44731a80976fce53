"""`rollup(engine, ...)` and `reprice(engine, ...)` equal the in-memory path on the same calls,
on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import io
import re
import warnings
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import func, select

from llmledger import UnknownTagWarning
from llmledger.analytics import memory as memory_module
from llmledger.analytics import reprice, rollup
from llmledger.analytics import source as source_module
from llmledger.analytics import sql as sql_module
from llmledger.pricing import build_pricer
from llmledger.reaggregate import reaggregate
from llmledger.store import make_engine, upgrade
from llmledger.store.derived import backfill
from llmledger.store.read import read_calls
from llmledger.store.schema import BUCKETS

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


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    insert_rows(engine, random_rows(600, seed=7))
    yield engine
    engine.dispose()


def _same(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> None:
    """Equal, exactly (the latency mean too: the core sums latencies in fixed point, so the
    order rows come in does not matter), but for the order of groups: first appearance in
    the rows read, and the SQL path reads in concurrent partitions."""
    a, b = a.sort(keys, nulls_last=True), b.sort(keys, nulls_last=True)
    assert_frame_equal(a, b, check_exact=True)


CASES = [
    dict(by=["feature", "tenant"]),
    dict(by=["provider", "model"], bucket="day"),
    dict(by=["tenant"], bucket="hour", tz="+05:30", since="2026-01-02", until="2026-01-04"),
    dict(by=["model", "feature"], where={"tenant": "Ünïcode ☃"}),
    dict(by=["feature"], where={"tenant": None, "provider": "openai"}),
    dict(by=["user_id"], bucket="month", where={"feature": "检索"}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c["by"]))
def test_engine_rollup_equals_in_memory_rollup(engine, case):
    memory = rollup(read_calls(engine), **case)
    from_sql = rollup(engine, **case)
    keys = ([case["bucket"]] if "bucket" in case else []) + case["by"]
    assert from_sql.height > 0
    _same(from_sql, memory, keys)


def test_engine_rollup_with_repricing_equals_in_memory(engine):
    pricer = build_pricer(OVERRIDES)
    memory = rollup(read_calls(engine), by=["model", "pricing_mode"], reprice=pricer)
    from_sql = rollup(
        engine.url.render_as_string(hide_password=False),
        by=["model", "pricing_mode"],
        reprice=pricer,
    )
    _same(from_sql, memory, ["model", "pricing_mode"])
    # The house model has a price only through the override: re-priced, yet recorded unpriced.
    house = from_sql.filter(pl.col("model") == "house-model")
    assert house["cost"].is_null().all()
    assert house["repriced_cost"].is_not_null().all()


def test_engine_reprice_per_group_and_per_call(engine):
    pricer = build_pricer(OVERRIDES)
    memory = reprice(read_calls(engine), catalog=pricer, as_mode="batch", by=["provider"])
    from_sql = reprice(engine, catalog=pricer, as_mode="batch", by=["provider"])
    _same(from_sql, memory, ["provider"])
    per_call = reprice(engine, catalog=pricer, since="2026-01-03")
    assert per_call.height == read_calls(engine, since="2026-01-03").height
    assert per_call.equals(reprice(read_calls(engine), catalog=pricer, since="2026-01-03"))


def test_bad_arguments_fail_before_anything_is_read(engine, monkeypatch):
    def read(*args, **kwargs):
        raise AssertionError("the database was read before the arguments were checked")

    monkeypatch.setattr(sql_module, "read_calls", read)
    monkeypatch.setattr(sql_module, "rolled_up", read)
    pricer = build_pricer(OVERRIDES)
    modes = ", ".join(pricer.modes)
    message = f"as_mode 'bacth' is not a pricing mode of this catalog; it has {modes}"
    for by in (None, ["model"]):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            reprice(engine, as_mode="bacth", catalog=pricer, by=by)
        with pytest.raises(
            ValueError, match=r"^as_model 'openai/gpt-4o-mnii' is priced by neither"
        ):
            reprice(engine, as_model="openai/gpt-4o-mnii", catalog=pricer, by=by)
        with pytest.raises(ValueError, match=r"^since \(2026-01-02\) must be before until"):
            reprice(engine, since="2026-01-02", until="2026-01-02", catalog=pricer, by=by)
    with pytest.raises(ValueError, match=r"^bucket must be one of hour, day, month, not 'week'$"):
        rollup(engine, by=["feature"], bucket="week")
    with pytest.raises(ValueError, match=r"^by names 'feature' more than once$"):
        rollup(engine, by=["feature", "tenant", "feature"])


def test_empty_window_gives_an_empty_frame(engine):
    result = rollup(engine, by=["feature"], since="2030-01-01")
    assert result.height == 0
    assert result.columns == rollup(read_calls(engine), by=["feature"], since="2030-01-01").columns


def test_a_tag_no_call_has_is_null_on_both_paths(engine):
    # `calls()` for a window without calls has no tags at all; no row has the tag `project`.
    # Said in a window with tagged calls; not in an empty one, where nothing is known.
    absent = r"^no call in the window has the tag 'project'; the tags there are feature, "
    for case in (dict(since="2030-01-01"), dict(since="2026-01-03")):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            memory = rollup(read_calls(engine, **case), by=["feature", "project"])
            from_sql = rollup(engine, by=["feature", "project"], **case)
        assert [re.match(absent, str(w.message)) is not None for w in said] == (
            [] if case["since"] == "2030-01-01" else [True, True]
        )
        _same(from_sql, memory, ["feature", "project"])
        assert from_sql["project"].is_null().all()


def test_partitioned_read_covers_every_row_once(engine, monkeypatch):
    # Force two partitions on this small ledger: by id halves (no window), by at_us halves
    # (a window inside the ledger); the totals must not change.
    monkeypatch.setattr(source_module, "_PARTITION_MIN_ROWS", 10)
    whole = rollup(read_calls(engine), by=["tenant"])
    _same(rollup(engine, by=["tenant"]), whole, ["tenant"])
    since, until = (D0 + 1) * DAY_US, (D0 + 3) * DAY_US
    window = read_calls(engine).filter(
        pl.col("at").dt.epoch("us").is_between(since, until, closed="left")
    )
    _same(
        rollup(engine, by=["tenant"], since="2026-01-02", until="2026-01-04"),
        rollup(window, by=["tenant"]),
        ["tenant"],
    )


def test_filter_values_are_quoted_not_interpreted(engine):
    odd = ["O'Brien \\ %s :w1", "it's", "back\\slash", "\\'"]
    rows = random_rows(len(odd) * 3, seed=21, first_event=10_000)
    for i, row in enumerate(rows):
        row["tags"] = {"feature": "odd", "tenant": odd[i % len(odd)]}
    insert_rows(engine, rows)
    for value in odd:
        from_sql = rollup(engine, by=["feature"], where={"tenant": value, "feature": "odd"})
        assert from_sql["calls"].to_list() == [3]


def test_in_memory_sqlite_goes_through_the_portable_fetch():
    # Only the caller's engine sees an in-memory database: no ADBC connection can open it.
    engine = make_engine("sqlite://")
    upgrade(engine)
    insert_rows(engine, random_rows(300, seed=31))
    case = dict(by=["tenant"], bucket="day", where={"feature": "chat"})
    _same(rollup(engine, **case), rollup(read_calls(engine), **case), ["day", "tenant"])
    engine.dispose()


def test_without_the_server_driver_the_portable_fetch_reads(engine, monkeypatch):
    # The `postgres` / `mysql` extras bring ADBC's libpq driver and connectorx; without them
    # (find_spec finds nothing) the engine path still works, through SQLAlchemy.
    monkeypatch.setattr(source_module, "_installed", lambda module: False)
    case = dict(by=["model"], bucket="day", where={"feature": "chat"})
    _same(rollup(engine, **case), rollup(read_calls(engine), **case), ["day", "model"])


@pytest.fixture
def in_parts(monkeypatch):
    """Reads in parts of 50 rows, from batches of at most 37 (so part boundaries fall inside
    groups and inside batches of any driver); returns the number of parts each merge had."""
    read = sql_module.read_batches
    merges: list[int] = []

    def small_batches(engine, query):
        for batch in read(engine, query):
            for start in range(0, batch.num_rows, 37):
                yield batch.slice(start, 37)

    def merge_parts(parts, keys):
        merges.append(len(parts))
        return memory_module.merge_parts(parts, keys)

    monkeypatch.setattr(sql_module, "read_batches", small_batches)
    monkeypatch.setattr(sql_module, "merge_parts", merge_parts)
    monkeypatch.setattr(sql_module, "PART_ROWS", 50)
    return merges


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c["by"]))
def test_a_ledger_read_in_parts_gives_the_one_part_result(engine, in_parts, case):
    keys = ([case["bucket"]] if "bucket" in case else []) + case["by"]
    _same(rollup(engine, **case), rollup(read_calls(engine), **case), keys)
    assert in_parts and in_parts[0] > 1


def test_repricing_in_parts_gives_the_one_part_result(engine, in_parts):
    pricer = build_pricer(OVERRIDES)
    keys = ["model", "pricing_mode"]
    memory = read_calls(engine)
    _same(rollup(engine, by=keys, reprice=pricer), rollup(memory, by=keys, reprice=pricer), keys)
    as_batch = dict(by=["model"], as_mode="batch", catalog=pricer)
    _same(reprice(engine, **as_batch), reprice(memory, **as_batch), ["model"])
    assert len(in_parts) == 2 and min(in_parts) > 1


def test_a_total_in_parts_gives_the_one_part_total(engine, in_parts):
    assert_frame_equal(rollup(engine), rollup(read_calls(engine)), check_exact=True)
    assert in_parts and in_parts[0] > 1


def test_calls_and_rollup_keep_the_same_calls_for_the_same_filters(engine):
    # One where-builder: a number compares as text, a value that is no number matches nothing
    # (rather than failing on PostgreSQL), trailing spaces count, None is "missing".
    failed = random_rows(3, seed=41, first_event=20_000)
    for row, status in zip(failed, (500, 500, 429), strict=True):
        row.update(status="error", http_status=status, tags={"tenant": "acme "})
    insert_rows(engine, failed)
    expected = [
        ({"http_status": 500}, 2),
        ({"http_status": "500"}, 2),
        ({"http_status": "5xx"}, 0),
        ({"tenant": "acme "}, 3),
        ({"tenant": "acme ", "http_status": None}, 0),
        ({"status": "error", "provider": failed[0]["provider"]}, 1),
    ]
    for where, count in expected:
        assert read_calls(engine, **where).height == count, where
        assert rollup(engine, where=where)["calls"].sum() == count, where
        assert rollup(read_calls(engine), where=where)["calls"].sum() == count, where


TYPO = (
    r"^no call in the window has the tag '{}' \(did you mean '{}'\?\); "
    r"the tags there are feature, tenant, user_id$"
)


def test_a_misspelt_tag_is_said_with_the_tags_that_exist(engine):
    with pytest.warns(UnknownTagWarning, match=TYPO.format("featur", "feature")):
        grouped = rollup(engine, by=["featur"])
    assert grouped.select("featur", "calls").rows() == [(None, 600)]
    with pytest.warns(UnknownTagWarning, match=TYPO.format("tennant", "tenant")):
        assert rollup(engine, by=["feature"], where={"tennant": "acme"}).height == 0
    with pytest.warns(UnknownTagWarning, match=TYPO.format("tennant", "tenant")):
        assert read_calls(engine, tennant="acme").height == 0
    with pytest.warns(UnknownTagWarning, match=TYPO.format("tennant", "tenant")):
        assert read_calls(engine, tennant=None).height == 600
    with pytest.warns(UnknownTagWarning, match=TYPO.format("usr_id", "user_id")):
        reprice(engine, by=["usr_id"], catalog=build_pricer(OVERRIDES))
    with pytest.warns(UnknownTagWarning, match=TYPO.format("featur", "feature")):
        rollup(read_calls(engine), by=["featur"])
    # Names that exist say nothing, even where no call matches.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rollup(engine, by=["feature"], where={"tenant": "nobody"}).height == 0
        assert read_calls(engine, tenant="nobody").height == 0
        assert rollup(engine, by=["tenant"], where={"feature": None}).height > 0


def test_a_window_must_run_forwards(engine):
    # An empty window's empty answer would look real.
    for since, until in (("2026-01-03", "2026-01-02"), ("2026-01-02", "2026-01-02")):
        message = rf"^since \({since}\) must be before until \({until}\)$"
        with pytest.raises(ValueError, match=message):
            read_calls(engine, since=since, until=until)
        for source in (engine, read_calls(engine)):
            with pytest.raises(ValueError, match=message):
                rollup(source, by=["feature"], since=since, until=until)
            with pytest.raises(ValueError, match=message):
                reprice(source, since=since, until=until, catalog=build_pricer(OVERRIDES))


def test_as_model_prices_every_call_as_that_providers_model(database_url):
    # "What if all of this had run on gpt-4o-mini": every call, whoever served it.
    engine = make_engine(database_url)
    upgrade(engine)
    rows = random_rows(3, seed=51)
    models = [("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet-20241022")]
    models.append(("acme-gateway", "house-model"))
    for n, (row, (provider, model)) in enumerate(zip(rows, models, strict=True)):
        row.update({b: 0 for b in BUCKETS}, provider=provider, model=model, at_us=D0 * DAY_US + n)
        row.update(input_tokens=1000, output_tokens=100, pricing_mode="standard")
    insert_rows(engine, rows)
    # gpt-4o-mini: 1000 x $0.15/Mtok + 100 x $0.60/Mtok = $0.00021.
    per_call = reprice(engine, as_model="openai/gpt-4o-mini")
    assert per_call["repriced_cost"].to_list() == [Decimal("0.00021")] * 3
    grouped = reprice(engine, as_model="openai/gpt-4o-mini", by=["provider"]).sort("provider")
    assert grouped.select("provider", "repriced_cost", "repriced_unpriced_calls").rows() == [
        ("acme-gateway", Decimal("0.00021"), 0),
        ("anthropic", Decimal("0.00021"), 0),
        ("openai", Decimal("0.00021"), 0),
    ]
    # A bare name is ambiguous: several providers sell gpt-4o-mini, at their own prices.
    bare = r"^as_model 'gpt-4o-mini' names no provider: give it as provider/model, e\.g\. "
    with pytest.raises(ValueError, match=bare + r".*\bopenai/gpt-4o-mini\b"):
        reprice(engine, as_model="gpt-4o-mini")
    with pytest.raises(ValueError, match=r"no provider is called 'opneai' \(did you mean 'openai'"):
        reprice(engine, as_model="opneai/gpt-4o-mini", by=["model"])
    engine.dispose()


def test_backfilled_calls_count_alike_on_both_paths_and_in_parts(engine, in_parts, monkeypatch):
    # Read in concurrent partitions too: their conditions name the ledger's columns bare.
    monkeypatch.setattr(source_module, "_PARTITION_MIN_ROWS", 10)
    reaggregate(engine, pricer=build_pricer(OVERRIDES), progress=io.StringIO())
    with engine.connect() as connection:
        backfilled, cost = connection.execute(select(func.count(), func.sum(backfill.c.cost))).one()
    memory = read_calls(engine)
    house = memory.filter(pl.col("model") == "house-model")
    assert backfilled == house.height > 0 and house["cost"].is_null().all()
    total = rollup(engine)
    assert total.select("calls", "unpriced_calls").rows() == [(600, 0)]
    assert total["backfilled_cost"].to_list() == [Decimal(int(cost)).scaleb(-12)]
    assert total["cost"].to_list() == [memory["cost"].sum() + memory["backfilled_cost"].sum()]
    for case in CASES:
        keys = ([case["bucket"]] if "bucket" in case else []) + case["by"]
        _same(rollup(engine, **case), rollup(memory, **case), keys)
    assert in_parts and min(in_parts) > 1


ODD_KEYS = ["a.b", "a b", "it's", 'say "hi"', "back\\slash", "ü-客", "$.x", "a[0]"]
ODD_VALUES = ["x", "O'Brien \\ %s :w1", 'q"uote', "\\'", "tab\tnl\n", "ü", "", "0"]


def test_any_tag_key_and_value_filters_and_groups_alike(engine):
    # Keys are JSON path labels in SQL: quotes, backslashes, dots and non-ASCII letters
    # (stored escaped) must name the key itself, on every database and both paths.
    rows = random_rows(2 * len(ODD_KEYS), seed=61, first_event=30_000)
    for i, (key, value) in enumerate(zip(ODD_KEYS, ODD_VALUES, strict=True)):
        rows[2 * i]["tags"] = {key: value}
        rows[2 * i + 1]["tags"] = {key: value + " "}  # a near miss
    insert_rows(engine, rows)
    memory = read_calls(engine)
    for key, value in zip(ODD_KEYS, ODD_VALUES, strict=True):
        assert read_calls(engine, **{key: value})["event_id"].to_list() == [
            rows[2 * ODD_KEYS.index(key)]["event_id"]
        ]
        for source in (engine, memory):
            assert rollup(source, where={key: value})["calls"].to_list() == [1], (key, source)
            grouped = rollup(source, by=[key])
            assert sorted(grouped.select(key, "calls").rows(), key=str) == sorted(
                [(None, 600 + 2 * len(ODD_KEYS) - 2), (value, 1), (value + " ", 1)], key=str
            ), key
