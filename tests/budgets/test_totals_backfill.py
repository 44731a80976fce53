"""Calls priced late: the nightly job's backfill adds each price to the spend totals once,
takes the call out of the unpriced count, and a rerun or a rebuild changes nothing."""

from __future__ import annotations

import datetime as dt
import io

from analytics.sql_rows import insert_rows
from ledger_rows import T0, make_row

from budgets.oracle import expected, stored
from llmledger.pricing import build_pricer
from llmledger.reaggregate import reaggregate
from llmledger.store import Writer
from llmledger.store.totals import Scope, Total, TotalsSpec
from llmledger.store.totals_sql import read_totals, rebuild_totals

HOUSE = {
    "models": [
        {
            "provider": "acme-gateway",
            "model": "house-model",
            "prices": {"input_mtok": "1.25", "output_mtok": "5"},
        }
    ]
}
SPEC = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant",), models=True)
DAY_US = 86_400_000_000


def house_call(n: int, day: int) -> dict:
    return make_row(
        n,
        at_us=T0 + day * DAY_US,
        provider="acme-gateway",
        model="house-model",
        input_tokens=1000,
        output_tokens=200,
        cost=None,
        **dict.fromkeys(("price_snapshot_id", "price_source", "price_provider"), None),
        **dict.fromkeys(("price_model", "price_version", "price_variant", "price_tier"), None),
        tags={"tenant": "acme" if n % 2 else "globex"},
    )


def test_a_backfill_adds_each_price_once(engine, tmp_path):
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl", totals=SPEC)
    for n in range(4):
        writer.submit(house_call(n, day=0))
    writer.submit(make_row(10, tags={"tenant": "acme"}))  # priced when recorded
    writer.submit(house_call(11, day=40))  # another month
    assert writer.flush(timeout=60)
    writer.close()
    at = dt.datetime.fromtimestamp(T0 / 1e6, dt.UTC)
    acme = Scope({"tenant": "acme"})
    priced = make_row(10)["cost"]
    with engine.connect() as connection:
        before = read_totals(connection, SPEC, [acme], at)[acme]["month"]
    assert before == Total(calls=3, cost=priced, unpriced_calls=2)

    reaggregate(engine, pricer=build_pricer(HOUSE), progress=io.StringIO())
    # 1000 input tokens at $1.25/Mtok + 200 output at $5/Mtok: 2_250_000_000 pico-USD each.
    with engine.connect() as connection:
        after = read_totals(connection, SPEC, [acme], at)[acme]["month"]
    assert after == Total(calls=3, cost=priced + 2 * 2_250_000_000, unpriced_calls=0)
    maintained = stored(engine, SPEC)
    assert maintained == expected(engine, SPEC)

    reaggregate(engine, pricer=build_pricer(HOUSE), progress=io.StringIO())  # nothing new
    reaggregate(engine, pricer=build_pricer(HOUSE), progress=io.StringIO(), rebuild=True)
    assert stored(engine, SPEC) == maintained
    rebuild_totals(engine, SPEC)
    assert stored(engine, SPEC) == maintained


def test_a_backfill_without_totals_kept_touches_none(engine):
    insert_rows(engine, [house_call(1, 0)])
    summary = reaggregate(engine, pricer=build_pricer(HOUSE), progress=io.StringIO())
    assert summary.backfilled_calls == 1
    assert stored(engine, SPEC) == {}
