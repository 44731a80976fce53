"""The writer's cost of keeping spend totals: one 500-row batch inserted with and without a
`TotalsSpec`, on SQLite and (when their test URLs are set) PostgreSQL and MariaDB.

The batch's calls come from 50 tenants and 2 features in one day, so the totals add 159
upserts (day, week and month for the app, each tenant and each feature) to the 500 inserts.
Run: `make bench` (or `pytest benches/bench_totals_insert.py --benchmark-only`).
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from llmledger.store import make_engine, upgrade
from llmledger.store.inserter import Inserter
from llmledger.store.schema import BUCKETS, COST_COLUMNS
from llmledger.store.totals import TotalsSpec
from llmledger.store.totals_sql import rebuild_totals

BATCH, ROUNDS = 500, 20
SPEC = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant", "feature"))
T0 = 1_795_780_800_000_000  # 2026-11-27 12:00 UTC
_numbers = itertools.count()


def batch() -> list[dict]:
    rows = []
    for _ in range(BATCH):
        n = next(_numbers)
        rows.append(
            {
                "event_id": uuid.uuid4().hex,
                "at_us": T0 + n,
                "provider": "openai",
                "model": "gpt-4o",
                **dict.fromkeys(BUCKETS, 0),
                "input_tokens": 1000,
                "output_tokens": 20,
                "cost": 2_700_000_000,
                **dict.fromkeys(COST_COLUMNS, 0),
                "pricing_mode": "standard",
                "usage_source": "response",
                "status": "ok",
                "http_status": 200,
                "latency_ms": 812.5,
                "provider_response_id": f"resp_{n}",
                **dict.fromkeys(("price_snapshot_id", "price_source", "price_provider"), "x"),
                **dict.fromkeys(("price_model", "price_version", "price_variant"), "x"),
                "price_tier": 0,
                "tags": {"tenant": f"tenant-{n % 50}", "feature": ("chat", "search")[n % 2]},
                "raw_usage": '{"prompt_tokens": 1000, "completion_tokens": 20}',
            }
        )
    return rows


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'bench.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    variable = {"postgresql": "LLMLEDGER_TEST_POSTGRES_URL", "mysql": "LLMLEDGER_TEST_MYSQL_URL"}
    url = os.environ.get(variable[request.param])
    if not url:
        pytest.skip(f"{variable[request.param]} is not set")
    server = make_url(url)
    name = f"llmledger_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine = make_engine(server.set(database=name))
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        force = " WITH (FORCE)" if request.param == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name}{force}"))
        admin.dispose()


@pytest.mark.parametrize("totals", [None, SPEC], ids=["without totals", "with totals"])
def test_insert_a_batch(benchmark, engine, totals):
    if totals is not None:
        rebuild_totals(engine, totals)
    inserter = Inserter(engine, BATCH, totals)
    inserter.insert(batch())  # warm up: connections, statement caches

    def insert(rows):
        assert inserter.insert(rows).written == BATCH

    benchmark.pedantic(insert, setup=lambda: ((batch(),), {}), rounds=ROUNDS, iterations=1)
    benchmark.group = f"insert {BATCH} rows, {engine.dialect.name}"
