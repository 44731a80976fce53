"""Spend totals kept by the writer on SQLite, PostgreSQL and MariaDB: equal to the ledger's
own sums after normal writes, a replayed spool, a poisoned batch, and a rebuild."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from ledger_rows import T0, make_row, row_count
from sqlalchemy import func, select

from budgets.oracle import expected, local_start, stored
from llmledger.store import Writer
from llmledger.store.spool import Spool, encode_rows
from llmledger.store.totals import Scope, Total, TotalsSpec, spend_totals
from llmledger.store.totals_sql import read_totals, rebuild_totals, stored_spec

SPEC = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant", ("feature", "tenant")), models=True)
TENANTS = ("acme", "globex", "Ünïcode ☃ " + "x" * 200)  # an unbounded value, hashed in the key
HOUR_US = 3_600_000_000


def rows(first: int, n: int) -> list[dict]:
    """Calls over three days, across tenants and models, some unpriced, some untagged."""
    out = []
    for i in range(first, first + n):
        tags = {"feature": "chat" if i % 2 else "search", "tenant": TENANTS[i % 3]}
        if i % 7 == 0:
            tags = {}
        extra = {"cost": None, "model": "house-model"} if i % 5 == 0 else {}
        if i % 5 == 1:  # a dated name: kept with "gpt-4o", the model the catalog says it is
            extra = {"model": "gpt-4o-2024-08-06"}
        out.append(make_row(i, at_us=T0 + i * 7 * HOUR_US // 10, tags=tags, **extra))
    return out


def write(engine, spool_path, batch: list[dict], spec=SPEC) -> Writer:
    writer = Writer(engine, spool_path=spool_path, totals=spec)
    for row in batch:
        writer.submit(row)
    assert writer.flush(timeout=60)
    writer.close()
    return writer


def test_totals_equal_the_ledger_after_writes(engine, tmp_path):
    write(engine, tmp_path / "spool.jsonl", rows(0, 120))
    write(engine, tmp_path / "spool.jsonl", rows(120, 30))  # a second process, later
    totals = stored(engine, SPEC)
    assert totals == expected(engine, SPEC)
    with engine.connect() as connection:
        assert stored_spec(connection) == SPEC
    app_months = [v for k, v in totals.items() if k[0] == "month" and k[2:] == ((), None, None)]
    priced = [r["cost"] for r in rows(0, 150) if r["cost"] is not None]
    assert len(app_months) == 2  # November and December in Berlin
    sums = tuple(sum(column) for column in zip(*app_months, strict=True))
    assert sums == (150, sum(priced), 150 - len(priced))  # exact pico-USD
    assert {k[4] for k in totals} == {None, "gpt-4o", "house-model"}  # the dated name: gpt-4o


def test_a_replayed_spool_of_written_rows_counts_nothing_twice(engine, tmp_path):
    spool = Spool(tmp_path / "spool.jsonl")
    batch = rows(0, 60)
    write(engine, spool.path, batch)
    before = stored(engine, SPEC)
    # The rows come back: an interrupted replay left them in the spool, with two new ones,
    # one of them twice (a row re-sent after an interrupted replay).
    fresh = rows(60, 2)
    spool.append(encode_rows([*batch[:40], fresh[0], *batch[40:], fresh[1], fresh[1]]))
    write(engine, spool.path, [])
    assert row_count(engine) == 62 and not spool.pending()
    after = stored(engine, SPEC)
    assert after != before and after == expected(engine, SPEC)


# Values the database or its driver refuses (as in tests/faults/test_poisoned.py); MariaDB's
# INSERT IGNORE would store the first two altered and skip the third, so they test its check.
POISONS = {
    "int past 64 bits": {"input_tokens": 2**64},
    "model too long": {"model": "m" * 300},
    "lone surrogate in a column": {"model": "gpt-\udc80"},
    "lone surrogate in a tag": {"tags": {"tenant": "r\udc80port"}},
}


@pytest.mark.parametrize("poison", list(POISONS))
def test_a_poisoned_row_in_a_batch_does_not_count(engine, tmp_path, poison):
    values = POISONS[poison]
    stored_anyway = engine.dialect.name == "sqlite" and poison in (
        "model too long",  # SQLite does not enforce VARCHAR lengths
        "lone surrogate in a tag",  # kept escaped in the JSON text
    )
    batch = rows(0, 10)
    batch[4] = make_row(4, at_us=batch[4]["at_us"], **{"tags": {"tenant": "acme"}, **values})
    writer = write(engine, tmp_path / "spool.jsonl", batch)
    written = 10 if stored_anyway else 9
    assert writer.stats()["rejected"] == 10 - written
    assert row_count(engine) == written
    totals = stored(engine, SPEC)
    assert totals == expected(engine, SPEC)
    month = next(k for k in totals if k[0] == "month" and k[2] == () and k[3] is None)
    assert totals[month][0] == written


def test_a_batch_of_spooled_rows_with_int_and_float_latencies_goes_in_whole(engine, tmp_path):
    # JSON brings back 812.0 as 812: one batch mixes int and float in a column.
    batch = [make_row(n, latency_ms=812 if n % 2 else 812.5) for n in range(6)]
    writer = write(engine, tmp_path / "spool.jsonl", batch)
    assert writer.stats()["errors"] == 0  # one statement, no row-by-row retry
    assert row_count(engine) == 6
    assert stored(engine, SPEC) == expected(engine, SPEC)


def test_read_totals_reads_the_current_periods_of_the_given_scopes(engine, tmp_path):
    spec = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant",))
    batch = rows(0, 30)
    write(engine, tmp_path / "spool.jsonl", batch, spec)
    at = dt.datetime.fromtimestamp(batch[20]["at_us"] / 1e6, dt.UTC)
    acme, nobody = Scope({"tenant": "acme"}), Scope({"tenant": "nobody"})
    with engine.connect() as connection:
        read = read_totals(connection, spec, [Scope(), acme, nobody], at)
    want = expected(engine, spec)
    for scope in (Scope(), acme):
        for period in ("day", "week", "month"):
            key = (period, at_local(at, period), scope.tags, None, None)
            assert read[scope][period] == Total(*want[key])
    assert read[nobody] == dict.fromkeys(("day", "week", "month"), Total(0, 0, 0))
    assert read[acme]["month"].usd == sum(
        (r["cost"] for r in batch if r["tags"].get("tenant") == "acme" and r["cost"]), 0
    ) / Decimal(10**12)
    with engine.connect() as connection, pytest.raises(ValueError, match="not kept"):
        read_totals(connection, spec, [Scope({"feature": "chat"})], at)


def at_local(at: dt.datetime, period: str) -> str:
    at_us = (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return local_start(at_us, period, ZoneInfo("Europe/Berlin")).isoformat()


def test_rebuild_equals_maintained_and_a_new_spec_rebuilds(engine, tmp_path):
    write(engine, tmp_path / "spool.jsonl", rows(0, 80))
    maintained = stored(engine, SPEC)
    assert rebuild_totals(engine, SPEC) == len(maintained)
    assert stored(engine, SPEC) == maintained
    # A writer with another spec rebuilds the totals for it before its first write.
    other = TotalsSpec(tz="America/New_York", tag_keys=("feature",), periods=("day",))
    write(engine, tmp_path / "spool.jsonl", rows(80, 10), other)
    assert stored(engine, other) == expected(engine, other)


def test_without_a_spec_nothing_is_kept(engine, tmp_path):
    write(engine, tmp_path / "spool.jsonl", rows(0, 20), spec=None)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(spend_totals)).scalar() == 0
        assert stored_spec(connection) is None


def test_a_total_out_of_range_keeps_the_rows_waiting_not_set_aside(engine, tmp_path):
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite turns an overflowing sum into a float instead of failing")
    spool = Spool(tmp_path / "spool.jsonl")
    write(engine, spool.path, [make_row(0)])
    with engine.begin() as connection:
        connection.execute(spend_totals.update().values(cost=2**63 - 1))
    writer = write(engine, spool.path, [make_row(1)])
    # The row is not at fault: it waits in the spool (logged), and nothing of it counted.
    assert (writer.stats()["rejected"], spool.waiting(), row_count(engine)) == (0, 1, 1)
    assert {v[1] for v in stored(engine, SPEC).values()} == {2**63 - 1}
