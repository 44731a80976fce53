"""`rollup(engine, ...)` end to end against reading the same columns alone, same process.

The baseline is the fastest SQL-to-Arrow read measured (docs/analytics.md): on SQLite, ADBC
over two connections reading two halves of the table; on PostgreSQL, ADBC's libpq driver.
Single-connection ADBC and connectorx reads run beside them for reference. The rollup groups
by (feature, tenant), two tags extracted from the JSON column in SQL; the read-only baselines
extract the same two tags and read the same columns.

    LLMLEDGER_BENCH_SQL_ROWS=10000000 LLMLEDGER_BENCH_SQL_DIR=/tmp/ledgers \\
        pytest benches/bench_sql_rollup.py --benchmark-enable --benchmark-only

N defaults to 20,000 so the suite's `--benchmark-disable` pass stays quick. With
LLMLEDGER_BENCH_SQL_DIR set, the generated SQLite file is kept there and reused for the same N.
PostgreSQL runs when LLMLEDGER_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import create_engine, make_url, text

from llmledger.analytics import rollup
from llmledger.analytics.source import Query, read_batches
from llmledger.store import make_engine, upgrade
from llmledger.store.schema import BUCKETS

N = int(os.environ.get("LLMLEDGER_BENCH_SQL_ROWS", "20000"))
ROUNDS = int(os.environ.get("LLMLEDGER_BENCH_SQL_ROUNDS", "3"))
BY = ["feature", "tenant"]
QUERY = Query(columns=["at_us", *BUCKETS, "cost", "latency_ms"], tags=BY)
DAY_US = 86_400_000_000
START_US = 20_454 * DAY_US  # 2026-01-01


def ledger(n: int, seed: int = 1) -> pl.DataFrame:
    """`n` calls over 90 days in id order: 200 models of 5 providers (5% unpriced), 50
    features, 10,000 Zipf-skewed tenants, 1,000,000 users, tags as JSON text."""
    rng = np.random.default_rng(seed)
    model = rng.integers(0, 200, n)
    sparse = {"input_tokens": 4000, "output_tokens": 2000, "cache_read_tokens": 4000}
    tokens = {
        b: rng.integers(0, sparse[b], n)
        if b in sparse
        else np.where(rng.random(n) < 0.1, rng.integers(0, 2000, n), 0)
        for b in BUCKETS
    }
    tenant = np.minimum(rng.zipf(1.3, n), 10_000) - 1
    tags = pl.concat_str(
        [
            pl.lit('{"feature":"f'),
            pl.Series(rng.integers(0, 50, n)).cast(pl.String),
            pl.lit('","tenant":"t'),
            pl.Series(tenant).cast(pl.String),
            pl.lit('","user_id":"u'),
            pl.Series(rng.integers(0, 1_000_000, n)).cast(pl.String),
            pl.lit('"}'),
        ]
    )
    cost = pl.Series(rng.integers(0, 50_000_000_000, n))
    return pl.DataFrame(
        {
            "event_id": pl.Series(np.arange(n)).cast(pl.String).str.zfill(32),
            "at_us": np.sort(rng.integers(START_US, START_US + 90 * DAY_US, n)),
            "provider": pl.Series(model % 5).cast(pl.String).str.replace("^", "provider"),
            "model": pl.Series(model).cast(pl.String).str.replace("^", "model-"),
            **tokens,
        }
    ).with_columns(
        cost=pl.when(pl.Series(model >= 190)).then(None).otherwise(cost),
        pricing_mode=pl.Series(np.where(rng.random(n) < 0.1, "batch", "standard")),
        usage_source=pl.lit("response"),
        status=pl.lit("ok"),
        latency_ms=pl.Series(rng.gamma(2.0, 400.0, n).round(1)),
        tags=tags,
    )


def _sqlite_file(directory: Path) -> Path:
    path = directory / f"ledger-{N}.db"
    if path.exists():
        return path
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{partial}")
    upgrade(engine)
    engine.dispose()
    frame = ledger(N)
    with adbc_sqlite.connect(str(partial)) as connection, connection.cursor() as cursor:
        for start in range(0, N, 1_000_000):
            cursor.adbc_ingest(
                "llmledger_calls", frame.slice(start, 1_000_000).to_arrow(), mode="append"
            )
        connection.commit()
    partial.rename(path)
    return path


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    directory = os.environ.get("LLMLEDGER_BENCH_SQL_DIR")
    folder = Path(directory) if directory else tmp_path_factory.mktemp("sql")
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{_sqlite_file(folder)}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_engine():
    url = os.environ.get("LLMLEDGER_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("LLMLEDGER_TEST_POSTGRES_URL is not set")
    server = make_url(url)
    name = f"llmledger_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine = make_engine(server.set(database=name))
    upgrade(engine)
    frame = ledger(N)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for start in range(0, N, 1_000_000):
                chunk = frame.slice(start, 1_000_000).write_csv(include_header=False)
                with cursor.copy(
                    f"COPY llmledger_calls ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)"
                ) as copy:
                    copy.write(chunk)
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE llmledger_calls")
        )
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def _read(engine) -> int:
    return sum(batch.num_rows for batch in read_batches(engine, QUERY))


def _adbc_one_connection(engine) -> int:
    from llmledger.analytics import source

    sql = source._select(QUERY, engine.dialect.name)
    if engine.dialect.name == "sqlite":
        batches = source._adbc_sqlite(engine.url.database, sql, QUERY.schema())
    else:
        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        batches = source._adbc_postgresql(uri, sql)
    return sum(b.num_rows for b in batches)


def _connectorx(engine) -> int:
    import connectorx

    from llmledger.analytics import source

    sql = source._select(QUERY, engine.dialect.name)
    if engine.dialect.name == "sqlite":
        uri = f"sqlite://{Path(engine.url.database).resolve()}"
    else:
        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    reader = connectorx.read_sql(uri, sql, return_type="arrow_stream", batch_size=65_536)
    return sum(b.num_rows for b in reader)


def _rollup(engine) -> pl.DataFrame:
    return rollup(engine, by=BY)


CASES = {
    "rollup(engine)": _rollup,
    "read alone (llmledger's path)": _read,
    "read alone, ADBC one connection": _adbc_one_connection,
}


def _run(benchmark, engine, name):
    run = CASES.get(name, _connectorx)
    result = benchmark.pedantic(run, args=(engine,), rounds=ROUNDS, iterations=1)
    if name == "rollup(engine)":
        assert result["calls"].sum() == N
    else:
        assert result == N


@pytest.mark.parametrize("name", list(CASES))
def test_sqlite(benchmark, sqlite_engine, name):
    # No connectorx here: it infers a column's type from the first value and fails on this
    # ledger, whose first rows may have a NULL cost (unpriced calls).
    benchmark.group = f"SQLite, {N:,} rows"
    _run(benchmark, sqlite_engine, name)


@pytest.mark.parametrize("name", [*CASES, "read alone, connectorx"])
def test_postgresql(benchmark, postgres_engine, name):
    benchmark.group = f"PostgreSQL, {N:,} rows"
    _run(benchmark, postgres_engine, name)
