"""Rows written by the Writer read back through `read_calls` with exact values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest
from ledger_rows import T0, make_row

from llmledger import UnknownTagWarning
from llmledger.store import Writer, make_engine, upgrade
from llmledger.store.filters import conditions, tag_sql
from llmledger.store.read import CALL_SCHEMA, read_calls
from llmledger.store.schema import COST_COLUMNS

# T0 as a datetime: 2026-11-27 12:00:00.123456 UTC
AT0 = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)
MAX_PICO = 9_223_372_036_854_775_807  # the largest BIGINT: 9,223,372.036854775807 USD


def write(engine, tmp_path, rows):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl")
    for row in rows:
        writer.submit(row)
    assert writer.flush(timeout=30)
    writer.close()
    assert writer.stats()["written"] == len(rows)


def test_round_trip_exact_values(engine, tmp_path):
    big = make_row(
        1,
        cost=MAX_PICO,
        cost_input=9_000_000_000_000_000_000,
        cost_output=223_372_036_854_775_807,
        latency_ms=123.25,
        tags={"feature": "résumé ✓", "tenant": "東京", "user_id": "😀"},
        raw_usage={"input_tokens": 1001, "nested": {"ünï": [1, 2]}},
    )
    free = make_row(2, cost=0, **dict.fromkeys(COST_COLUMNS, 0), tags={})
    unpriced = make_row(
        3,
        model="some-unknown-model",
        cost=None,
        **dict.fromkeys(COST_COLUMNS, None),
        price_snapshot_id=None,
        price_source=None,
        price_provider=None,
        price_model=None,
        price_version=None,
        price_variant=None,
        price_tier=None,
        http_status=None,
        latency_ms=None,
        provider_response_id=None,
        raw_usage=None,
        usage_source="estimated",
    )
    write(engine, tmp_path, [unpriced, big, free])  # read back in time order

    frame = read_calls(engine)
    assert frame["event_id"].to_list() == [big["event_id"], free["event_id"], unpriced["event_id"]]
    assert frame["at"].to_list() == [AT0 + timedelta(microseconds=n) for n in (1, 2, 3)]
    assert frame["cost"].to_list() == [Decimal("9223372.036854775807"), Decimal(0), None]
    assert frame["cost_input"].to_list() == [Decimal("9000000"), Decimal(0), None]
    assert frame["cost_output"].to_list() == [Decimal("223372.036854775807"), Decimal(0), None]
    assert frame["cost_request"].to_list() == [Decimal(0), Decimal(0), None]
    assert frame["input_tokens"].to_list() == [1001, 1002, 1003]
    assert frame["output_tokens"].to_list() == [20, 20, 20]
    assert frame["reasoning_tokens"].to_list() == [0, 0, 0]
    assert frame["model"].to_list() == ["gpt-4o", "gpt-4o", "some-unknown-model"]
    assert frame["usage_source"].to_list() == ["response", "response", "estimated"]
    assert frame["http_status"].to_list() == [200, 200, None]
    assert frame["latency_ms"].to_list() == [123.25, 812.5, None]
    assert frame["provider_response_id"].to_list() == ["resp_1", "resp_2", None]
    assert frame["price_version"].to_list() == ["2024-08-06", "2024-08-06", None]
    assert frame["price_tier"].to_list() == [0, 0, None]
    assert frame["tags"].to_list() == [
        {"feature": "résumé ✓", "tenant": "東京", "user_id": "😀"},
        {"feature": None, "tenant": None, "user_id": None},
        {"feature": "chat", "tenant": "acme", "user_id": None},
    ]
    usage = frame["raw_usage"].to_list()
    assert json.loads(usage[0]) == {"input_tokens": 1001, "nested": {"ünï": [1, 2]}}
    assert json.loads(usage[1]) == {"prompt_tokens": 1002, "completion_tokens": 20}
    assert usage[2] is None
    assert dict(frame.schema) == {**CALL_SCHEMA, "tags": frame.schema["tags"]}
    assert list(frame.columns) == [*list(CALL_SCHEMA)[:-1], "tags", "raw_usage"]
    assert frame.schema["tags"] == pl.Struct(
        {"feature": pl.String, "tenant": pl.String, "user_id": pl.String}
    )


def test_empty_ledger_has_the_same_schema(engine):
    frame = read_calls(engine)
    assert frame.height == 0
    assert dict(frame.schema) == {**CALL_SCHEMA, "tags": pl.Struct([])}
    assert list(frame.columns) == [*list(CALL_SCHEMA)[:-1], "tags", "raw_usage"]


def test_tag_filters_compare_exact_strings(engine, tmp_path):
    write(
        engine,
        tmp_path,
        [
            make_row(1, tags={"tenant": "東京", "feature": "chat"}),
            make_row(2, tags={"tenant": "acme", "feature": "chat"}),
            make_row(3, tags={"tenant": "ACME", "feature": "search"}),
            make_row(4, tags={"feature": "chat"}),
            make_row(5, tags={"tenant": "acme ", "feature": "chat"}),
        ],
    )

    def ids(**filters):
        return [int(e[2:]) for e in read_calls(engine, **filters)["event_id"]]

    assert ids(tenant="東京") == [1]
    assert ids(tenant="acme") == [2]  # not ACME, not "acme " (case and padding matter)
    assert ids(tenant="ACME") == [3]
    assert ids(feature="chat") == [1, 2, 4, 5]
    assert ids(feature="chat", tenant="acme") == [2]
    assert ids(tenant="nobody") == []
    with pytest.warns(UnknownTagWarning, match=r"^no call in the window has the tag 'user_id';"):
        assert ids(user_id="1") == []  # no row has the key


def test_filters_on_columns_and_on_calls_without_a_tag(engine, tmp_path):
    # As rollup(where=...): a column of the ledger, else a tag; None is "null" or "no such tag".
    write(
        engine,
        tmp_path,
        [
            make_row(1, tags={"tenant": "acme"}),
            make_row(2, provider="anthropic", http_status=None, tags={"feature": "chat"}),
            make_row(3, tags={"tenant": "globex"}, status="error", http_status=500),
        ],
    )

    def ids(**filters):
        return [int(e[2:]) for e in read_calls(engine, **filters)["event_id"]]

    assert ids(provider="openai") == [1, 3]
    assert ids(provider="openai", tenant="globex") == [3]
    assert ids(status="error") == [3]
    assert ids(http_status=500) == [3]  # compared as a string, whatever the column's type
    assert ids(http_status=None) == [2]
    assert ids(tenant=None) == [2]
    assert ids(tenant=None, provider="openai") == []


def test_since_until_edges_at_the_microsecond(engine, tmp_path):
    write(engine, tmp_path, [make_row(n) for n in (0, 1, 2)])

    def ids(since=None, until=None):
        return [int(e[2:]) for e in read_calls(engine, since=since, until=until)["event_id"]]

    t1 = AT0 + timedelta(microseconds=1)
    assert ids(since=t1) == [1, 2]  # since is inclusive
    assert ids(until=t1) == [0]  # until is exclusive
    assert ids(since=t1, until=t1 + timedelta(microseconds=1)) == [1]
    assert ids(since=t1.replace(tzinfo=None)) == [1, 2]  # naive means UTC
    assert ids(since=t1.astimezone(timezone(timedelta(hours=-5)))) == [1, 2]
    assert ids(since="2026-11-27T12:00:00.123457") == [1, 2]
    assert ids(since="2026-11-27T12:00:00.123457+00:00") == [1, 2]
    assert ids(until="2026-11-27T13:00:00.123457+01:00") == [0]
    assert ids(since=date(2026, 11, 27), until=date(2026, 11, 28)) == [0, 1, 2]
    assert ids(since="2026-11-28") == []
    assert ids(until="2026-11-27") == []
    assert (t1 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) == T0 + 1


@pytest.mark.parametrize("value", ["0", "-1", "true", "null", "{}"])
def test_tag_values_that_look_like_json_stay_strings(engine, tmp_path, value):
    write(engine, tmp_path, [make_row(1, tags={"k": value})])
    frame = read_calls(engine, k=value)
    assert frame["tags"].to_list() == [{"k": value}]


def test_rows_without_tags_give_a_struct_without_fields(engine, tmp_path):
    write(engine, tmp_path, [make_row(1, tags={}), make_row(2, tags={})])
    frame = read_calls(engine)
    assert frame["tags"].dtype == pl.Struct([])
    assert frame["tags"].to_list() == [{}, {}]
    assert frame["cost"].to_list() == [Decimal("2.7025"), Decimal("2.705")]


def test_one_where_builder_writes_each_dialect():
    # What calls() and rollup(engine) both put in their WHERE, values as literals.
    where = {"tenant": "it's", "http_status": 500, "feature": None}
    assert conditions("sqlite", 1, 2, where) == [
        "at_us >= 1",
        "at_us < 2",
        "CAST(json_extract(tags, '$.\"tenant\"') AS TEXT) = 'it''s'",
        "CAST(http_status AS TEXT) = '500'",
        "CAST(json_extract(tags, '$.\"feature\"') AS TEXT) IS NULL",
    ]
    assert conditions("postgresql", None, None, where) == [
        "(tags ->> 'tenant') = 'it''s'",
        "CAST(http_status AS TEXT) = '500'",
        "(tags ->> 'feature') IS NULL",
    ]
    assert conditions("mysql", None, 2, {"tenant": "a\\b", "http_status": 500}) == [
        "at_us < 2",
        "CAST(JSON_UNQUOTE(JSON_EXTRACT(tags, '$.\"tenant\"')) AS BINARY)"
        " = CAST('a\\\\b' AS BINARY)",
        "CAST(http_status AS BINARY) = CAST('500' AS BINARY)",
    ]
    # Labels as the ledger stores keys (json.dumps: non-ASCII escaped).
    assert tag_sql("mysql", "ü") == "JSON_UNQUOTE(JSON_EXTRACT(tags, '$.\"\\\\u00fc\"'))"
    assert tag_sql("sqlite", 'a"b') == (
        "(SELECT CAST(value AS TEXT) FROM json_each(tags) WHERE key = 'a\"b')"
    )


def test_sqlite_reads_a_bounded_window_by_time_not_by_provider(tmp_path):
    # Without ANALYZE statistics SQLite takes an equality on the (provider, model) index over
    # any time range, and walks every call of the provider, of all time. In a bounded window
    # (or the planner's narrowed parts) column filters are `+column`: the at_us index reads.
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    where = {"provider": "openai", "model": "gpt-4o"}
    assert conditions("sqlite", 1, 2, where) == [
        "at_us >= 1",
        "at_us < 2",
        "+provider = 'openai'",
        "+model = 'gpt-4o'",
    ]
    assert conditions("sqlite", None, None, where, narrowed=True)[0] == "+provider = 'openai'"
    # Unbounded, a provider's calls are best found by its index; other databases plan alone.
    assert conditions("sqlite", 1, None, where)[1] == "provider = 'openai'"
    assert conditions("postgresql", 1, 2, where)[2] == "provider = 'openai'"

    def plan(found: list[str]) -> str:
        sql = f"EXPLAIN QUERY PLAN SELECT * FROM llmledger_calls WHERE {' AND '.join(found)}"
        with engine.connect() as connection:
            return " ".join(r[-1] for r in connection.exec_driver_sql(sql))

    assert "ix_llmledger_calls_at_us" in plan(conditions("sqlite", 1, 2, where))
    assert "ix_llmledger_calls_provider_model" in plan(conditions("sqlite", 1, None, where))
    engine.dispose()


def test_since_at_or_after_until_is_an_error(engine):
    with pytest.raises(ValueError, match=r"^since \(2026-11-28\) must be before until"):
        read_calls(engine, since="2026-11-28", until=date(2026, 11, 27))
    with pytest.raises(ValueError, match=r"^since \(2026-11-27\) must be before until"):
        read_calls(engine, since="2026-11-27", until=AT0.replace(hour=0, microsecond=0))
