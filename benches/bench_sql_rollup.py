"""`rollup(engine, ...)` end to end against the database's own GROUP BY and against reading
the same columns alone, same process.

The baseline to beat is the database's own SQL GROUP BY of the same sums, which cannot give
the latency percentiles the rollup gives. On SQLite, the read goes through ADBC in a reader
process of its own (llmledger.analytics.sqlite_reader); today's route before it, ADBC's
bundled SQLite in this very process (two connections reading two halves of the table), runs
beside it as the figure it replaced: fast, but it corrupts a ledger this process also writes
through `sqlite3`, so it is timed here only. On PostgreSQL, ADBC's libpq driver, with
single-connection ADBC and connectorx reads beside it for reference. The rollup groups by
(feature, tenant), two tags extracted from the JSON column in SQL; the read-only cases
extract the same two tags and read the same columns.

    LLMLEDGER_BENCH_SQL_ROWS=2000000 LLMLEDGER_BENCH_SQL_DIR=/tmp/ledgers \\
        pytest benches/bench_sql_rollup.py --benchmark-enable --benchmark-only

N defaults to 20,000 so the suite's `--benchmark-disable` pass stays quick (below
`sqlite_reader.SMALL_READ_ROWS`: raise N to time the reader process). With
LLMLEDGER_BENCH_SQL_DIR set, the generated SQLite file is kept there and reused for the same
N. PostgreSQL runs when LLMLEDGER_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from sqlalchemy import create_engine, make_url, text

from llmledger.analytics import rollup
from llmledger.analytics import sql as sql_module
from llmledger.analytics.source import Query, read_batches
from llmledger.store import make_engine, upgrade
from llmledger.store.schema import BUCKETS

N = int(os.environ.get("LLMLEDGER_BENCH_SQL_ROWS", "20000"))
ROUNDS = int(os.environ.get("LLMLEDGER_BENCH_SQL_ROUNDS", "3"))
BY = ["feature", "tenant"]
QUERY = Query(columns=["at_us", *BUCKETS, "cost", "latency_ms"], tags=BY)
DAY_US = 86_400_000_000
START_US = 20_454 * DAY_US  # 2026-01-01


def workload_tokens(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """The workload's token counts of `n` calls, per bucket: input, output and cache reads on
    every call, the other buckets on one call in ten."""
    sparse = {"input_tokens": 4000, "output_tokens": 2000, "cache_read_tokens": 4000}
    return {
        b: rng.integers(0, sparse[b], n)
        if b in sparse
        else np.where(rng.random(n) < 0.1, rng.integers(0, 2000, n), 0)
        for b in BUCKETS
    }


def ledger(n: int, seed: int = 1) -> pl.DataFrame:
    """`n` calls over 90 days in id order: 200 models of 5 providers (5% unpriced), 50
    features, 10,000 Zipf-skewed tenants, 1,000,000 users, tags as JSON text."""
    rng = np.random.default_rng(seed)
    model = rng.integers(0, 200, n)
    tokens = workload_tokens(rng, n)
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


def _todays_read(engine, query: Query) -> Iterator[pa.RecordBatch]:
    """The SQLite read before the reader process: ADBC's bundled SQLite in this process, two
    connections in two threads. Unsafe where this process writes the file; timed only."""
    from llmledger.analytics import source

    def adbc(sql: str) -> Iterator[pa.RecordBatch]:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        literal = {pa.int64(): "0", pa.float64(): "0.5", pa.string(): "''"}
        pin = ", ".join(f'{literal[f.type]} AS "{f.name}"' for f in query.schema())
        with adbc_sqlite.connect(engine.url.database) as connection, connection.cursor() as cur:
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
            cur.execute(f"SELECT {pin} UNION ALL {sql}")
            first = True
            for batch in cur.fetch_record_batch():
                if first:
                    batch, first = batch.slice(1), False
                yield batch

    sqls = [source._select(query, "sqlite", p) for p in source._partitions(engine, query)]
    yield from source._concurrently([lambda s=s: adbc(s) for s in sqls], query.schema())


def _todays_read_alone(engine) -> int:
    return sum(batch.num_rows for batch in _todays_read(engine, QUERY))


def _adbc_one_connection(engine) -> int:
    import adbc_driver_postgresql.dbapi as adbc_postgresql

    from llmledger.analytics import source

    sql = source._select(QUERY, engine.dialect.name)
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_postgresql.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return sum(b.num_rows for b in cursor.fetch_record_batch())


def _connectorx(engine) -> int:
    import connectorx

    from llmledger.analytics import source

    sql = source._select(QUERY, engine.dialect.name)
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    reader = connectorx.read_sql(uri, sql, return_type="arrow_stream", batch_size=65_536)
    return sum(b.num_rows for b in reader)


def _sql_group_by(engine) -> pl.DataFrame:
    """The database's own GROUP BY: calls, the sums, latency mean and max (no percentiles)."""
    if engine.dialect.name == "sqlite":
        tag = "CAST(json_extract(tags, '$.{0}') AS TEXT)".format
    else:
        tag = "(tags ->> '{0}')".format
    sums = ", ".join(f"SUM({c}) AS {c}" for c in (*BUCKETS, "cost"))
    sql = (
        f"SELECT {tag('feature')} AS feature, {tag('tenant')} AS tenant, COUNT(*) AS calls, "
        f"{sums}, AVG(latency_ms) AS latency_ms_mean, MAX(latency_ms) AS latency_ms_max "
        "FROM llmledger_calls GROUP BY 1, 2"
    )
    with engine.connect() as connection:
        result = connection.exec_driver_sql(sql)
        columns = list(result.keys())
        rows = result.all()
    # Sums come back as Python ints, and as Decimal on PostgreSQL: kept as objects.
    return pl.DataFrame(
        {c: pl.Series(c, [r[i] for r in rows], dtype=pl.Object) for i, c in enumerate(columns)}
    ).with_columns(pl.Series("calls", [r[2] for r in rows], dtype=pl.Int64))


def _rollup(engine) -> pl.DataFrame:
    return rollup(engine, by=BY)


def _todays_rollup(engine) -> pl.DataFrame:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sql_module, "read_batches", _todays_read)
        return rollup(engine, by=BY)


ROLLUPS = {
    "rollup(engine)": _rollup,
    "SQL GROUP BY alone (no percentiles)": _sql_group_by,
}
SQLITE_CASES = {
    **ROLLUPS,
    "rollup(engine), today's in-process ADBC read (unsafe)": _todays_rollup,
    "read alone (llmledger's path)": _read,
    "read alone, today's in-process ADBC (unsafe)": _todays_read_alone,
}
POSTGRES_CASES = {
    **ROLLUPS,
    "read alone (llmledger's path)": _read,
    "read alone, ADBC one connection": _adbc_one_connection,
    "read alone, connectorx": _connectorx,
}


def _run(benchmark, engine, run):
    result = benchmark.pedantic(run, args=(engine,), rounds=ROUNDS, iterations=1)
    if isinstance(result, pl.DataFrame):
        assert result["calls"].sum() == N
    else:
        assert result == N


@pytest.mark.parametrize("name", list(SQLITE_CASES))
def test_sqlite(benchmark, sqlite_engine, name):
    # No connectorx here: it infers a column's type from the first value and fails on this
    # ledger, whose first rows may have a NULL cost (unpriced calls).
    benchmark.group = f"SQLite, {N:,} rows"
    _run(benchmark, sqlite_engine, SQLITE_CASES[name])


@pytest.mark.parametrize("name", list(POSTGRES_CASES))
def test_postgresql(benchmark, postgres_engine, name):
    benchmark.group = f"PostgreSQL, {N:,} rows"
    _run(benchmark, postgres_engine, POSTGRES_CASES[name])
