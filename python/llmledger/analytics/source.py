"""Reading the ledger from SQL as Arrow record batches: only the columns and rows asked for.

The fast path per database was measured on a 10-million-row ledger (docs/analytics.md):

- SQLite file: ADBC's SQLite driver, two connections reading two halves of the table in two
  threads (the read is CPU-bound in SQLite's JSON functions and the driver's conversion, and
  the driver releases the GIL), 2x faster than one connection, connectorx or a DB-API fetch.
  The driver bundles its own SQLite, which must never open the file in a process that
  writes it through Python's `sqlite3` (that corrupts the ledger: see `sqlite_reader`), so
  it runs in a reader process of its own; a read of fewer than
  `sqlite_reader.SMALL_READ_ROWS` rows, where starting that process would dominate, is a
  DB-API fetch through this process's `sqlite3`. So is every read once the reader process
  could not be started (an embedded interpreter, whose `sys.executable` is not Python):
  slower for a large read, never wrong, said once in the log.
- PostgreSQL: ADBC's libpq driver (binary COPY out), likewise two connections.
- MySQL/MariaDB: connectorx (binary protocol straight into Arrow); no ADBC driver ships on PyPI.
- Anything else, or a driver that is not installed, or an in-memory SQLite database that only
  the caller's Engine can see: a plain SQLAlchemy fetch, converted to Arrow per batch.

Tag values are extracted from the JSON `tags` column in SQL, so only the needed keys travel.
Every column comes back with a fixed Arrow type (Int64, Float64, Utf8) whatever the driver
infers, so the kernels see one schema.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from sqlalchemy import Engine, text

from ..store.engine import SQLITE_BUSY_TIMEOUT
from ..store.filters import conditions, tag_sql
from ..store.schema import BUCKETS, COST_COLUMNS
from . import sqlite_reader

__all__ = ["TAG_PREFIX", "Query", "read_batches"]

TAG_PREFIX = "tags."
"""Tag `k` comes back as the column `tags.k` (the name the kernels' frame layer uses)."""

log = logging.getLogger("llmledger")

BATCH_ROWS = 65_536
_PARTITION_MIN_ROWS = 200_000  # below this a second connection costs more than it saves
# Why the SQLite reader process could not be started, once it could not: every later read
# stays in this process, not paying `START_TIMEOUT` again nor logging again.
_reader_not_started: str | None = None

_INT_COLUMNS = frozenset(
    {"id", "at_us", "cost", "http_status", "price_tier", *BUCKETS, *COST_COLUMNS}
)
_BACKFILLED = pa.field("backfilled_cost", pa.int64())
_FLOAT_COLUMNS = frozenset({"latency_ms"})


@dataclass(frozen=True)
class Query:
    """What to read: ledger columns, tag keys, an at_us window and equality filters (see
    `llmledger.store.filters`), `extra` conditions, and with `backfilled` the backfill's cost
    of each call (`backfilled_cost`, the last column; null for a call the nightly job did not
    price).

    `where` maps a column of `llmledger_calls` or a tag key to a value; None matches a row
    whose column is NULL or that lacks the tag.
    """

    columns: Sequence[str]
    tags: Sequence[str] = ()
    since_us: int | None = None
    until_us: int | None = None
    where: Mapping[str, str | None] = field(default_factory=dict)
    backfilled: bool = False
    extra: Sequence[str] = ()
    """Further SQL conditions on the ledger's columns (the planner's share of the window)."""

    def schema(self) -> pa.Schema:
        """The Arrow schema every batch has."""
        fields = [pa.field(c, _arrow_type(c)) for c in self.columns]
        fields += [pa.field(TAG_PREFIX + t, pa.string()) for t in self.tags]
        return pa.schema([*fields, *([_BACKFILLED] if self.backfilled else [])])


def _arrow_type(column: str) -> pa.DataType:
    if column in _INT_COLUMNS:
        return pa.int64()
    return pa.float64() if column in _FLOAT_COLUMNS else pa.string()


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select(q: Query, dialect: str, extra: Sequence[str] = ()) -> str:
    """The SELECT for `q` plus `extra` conditions, values written in as literals (the drivers
    of the fast paths take no parameters; connectorx none at all)."""
    quote = (lambda n: "`" + n + "`") if dialect == "mysql" else _quote_name
    items = [f"{c} AS {quote(c)}" for c in q.columns]
    items += [f"{tag_sql(dialect, t)} AS {quote(TAG_PREFIX + t)}" for t in q.tags]
    sql = "FROM llmledger_calls"
    if q.backfilled:
        # Only the backfill's cost, under a name of its own: every other name stays the
        # ledger's, so conditions name columns bare.
        items.append(f"backfilled_cost AS {quote('backfilled_cost')}")
        sql += (
            " LEFT JOIN (SELECT call_id, cost AS backfilled_cost FROM llmledger_backfill) b"
            " ON b.call_id = llmledger_calls.id"
        )
    # The planner's days or ids (`q.extra`) bound the read, not a partition's half (`extra`).
    where = conditions(dialect, q.since_us, q.until_us, q.where, narrowed=bool(q.extra))
    found = [*extra, *q.extra, *where]
    sql = f"SELECT {', '.join(items)} {sql}"
    if found:
        sql += " WHERE " + " AND ".join(found)
    return sql


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with `schema`'s names and types (drivers infer Int32, Float32, large strings...)."""
    if batch.schema.equals(schema):
        return batch
    columns = [col.cast(f.type) for col, f in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def read_batches(engine: Engine, q: Query) -> Iterator[pa.RecordBatch]:
    """The rows of `q` as record batches of `q.schema()`, streamed (never all in memory).

    Batches come in no particular row order: partitions are read concurrently.
    """
    schema = q.schema()
    dialect = engine.dialect.name
    if dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        yield from _sqlite_file(engine, q, schema)
        return
    # The server drivers come with the `postgres` and `mysql` extras; without them the
    # portable fetch reads.
    if dialect == "postgresql" and _installed("adbc_driver_postgresql"):
        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        parts = _partitions(engine, q)
        read = lambda sql: _adbc_postgresql(uri, sql)  # noqa: E731
    elif dialect == "mysql" and _installed("connectorx"):
        url = engine.url
        uri = url.set(drivername="mysql", query={}).render_as_string(hide_password=False)
        parts = [[]]
        read = lambda sql: _connectorx(uri, sql)  # noqa: E731
    else:
        yield from _fetch(engine, q, schema)
        return
    sqls = [_select(q, dialect, p) for p in parts]
    if len(sqls) == 1:
        for batch in read(sqls[0]):
            yield _conform(batch, schema)
    else:
        yield from _concurrently([lambda s=s: read(s) for s in sqls], schema)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _sqlite_file(engine: Engine, q: Query, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """A SQLite file: in a reader process (ADBC, adbc-driver-sqlite is a dependency of the
    package), or for a small read, or when that process cannot be started, through the
    engine's own `sqlite3`."""
    global _reader_not_started
    small = sqlite_reader.SMALL_READ_ROWS
    if _reader_not_started is None and _rows_at_least(engine, q, small) >= small:
        sqls = [_select(q, "sqlite", p) for p in _partitions(engine, q)]
        reader = sqlite_reader.read_in_own_process(
            engine.url.database,
            sqls,
            schema,
            batch_rows=BATCH_ROWS,
            # Wait, as the ledger's own engine does, rather than fail at once while a writer
            # holds a lock.
            busy_timeout=SQLITE_BUSY_TIMEOUT,
        )
        with contextlib.closing(reader):  # a consumer that stops early ends the process now
            try:
                first = next(reader, None)
            # Only a process that never started: one that fails on the data raises its error.
            except sqlite_reader.ReaderNotStarted as error:
                _reader_not_started = str(error)
                log.warning(
                    "llmledger: %s; large reads of SQLite ledgers go through this process's "
                    "sqlite3 from now on (slower, same results)",
                    error,
                )
            else:
                if first is not None:
                    yield first
                    yield from reader
                return
    yield from _fetch(engine, q, schema)


def _rows_at_least(engine: Engine, q: Query, enough: int) -> int:
    """The rows of `q`'s time window and `extra` conditions (its `where` filters, tags among
    them, not applied), counted on the at_us index or the id up to `enough` only: cheap
    however large the ledger. With `extra`: the planner's tail above the archive's last id
    is often empty, and starting the reader process for it took 0.5 s."""
    window = [f"at_us >= {int(q.since_us)}"] if q.since_us is not None else []
    window += [f"at_us < {int(q.until_us)}"] if q.until_us is not None else []
    window += list(q.extra)
    where = " WHERE " + " AND ".join(window) if window else ""
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM llmledger_calls{where} LIMIT {int(enough)})"
    with engine.connect() as connection:
        return connection.exec_driver_sql(sql).scalar_one()


def _adbc_postgresql(uri: str, sql: str) -> Iterator[pa.RecordBatch]:
    """PostgreSQL through ADBC's libpq driver (binary COPY out)."""
    import adbc_driver_postgresql.dbapi as adbc_postgresql

    with adbc_postgresql.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        yield from cursor.fetch_record_batch()


def _connectorx(uri: str, sql: str) -> Iterator[pa.RecordBatch]:
    """MySQL/MariaDB through connectorx, streamed."""
    import connectorx

    yield from connectorx.read_sql(uri, sql, return_type="arrow_stream", batch_size=BATCH_ROWS)


def _fetch(engine: Engine, q: Query, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The portable path: a streamed DB-API fetch, converted to Arrow one batch at a time."""
    sql = _select(q, engine.dialect.name)
    with engine.connect() as connection:
        # exec_driver_sql: the statement has literals, no bind parameters to parse.
        result = connection.execution_options(stream_results=True).exec_driver_sql(sql)
        while rows := result.fetchmany(BATCH_ROWS):
            columns = list(zip(*rows, strict=True))
            arrays = [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _partitions(engine: Engine, q: Query) -> list[list[str]]:
    """Conditions splitting `q`'s rows into disjoint parts of about equal size.

    Without a time window (or one that covers the whole ledger) the parts are halves of the
    id range: each connection scans its half of the table in storage order. With a narrower
    window, halves of the window on at_us, so each part uses the at_us index. The split point
    only balances the work; every row of the window is in exactly one part either way.
    """
    bounds = ", ".join(
        f"(SELECT {f}({c}) FROM llmledger_calls)" for c in ("id", "at_us") for f in ("MIN", "MAX")
    )
    with engine.connect() as connection:
        min_id, max_id, min_at, max_at = connection.execute(text(f"SELECT {bounds}")).one()
    if min_id is None or max_id - min_id < _PARTITION_MIN_ROWS:
        return [[]]
    since = min_at if q.since_us is None else max(q.since_us, min_at)
    until = max_at + 1 if q.until_us is None else min(q.until_us, max_at + 1)
    if since == min_at and until == max_at + 1:
        mid = (min_id + max_id + 1) // 2
        return [[f"id < {mid}"], [f"id >= {mid}"]]
    mid = (since + until) // 2
    return [[f"at_us < {mid}"], [f"at_us >= {mid}"]]


class _Stopped(Exception):
    """Raised inside a reader thread once the consumer has gone away."""


def _concurrently(readers: list, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Runs each reader (a callable returning a batch iterator) in its own thread and
    yields their batches as they come.

    The queue is bounded, so a slow consumer holds the readers back and memory stays at a
    few batches per reader. A reader's error is raised here, in the consumer's thread.
    """
    out: queue.Queue = queue.Queue(maxsize=4 * len(readers))
    done = object()
    stop = threading.Event()

    def run(reader) -> None:
        try:
            for batch in reader():
                if stop.is_set():
                    raise _Stopped
                out.put(_conform(batch, schema))
        except _Stopped:
            pass
        except Exception as error:  # a driver's error: handed over, raised by the consumer
            out.put(error)
        out.put(done)

    threads = [threading.Thread(target=run, args=(r,), daemon=True) for r in readers]
    for t in threads:
        t.start()
    try:
        running = len(threads)
        while running:
            item = out.get()
            if item is done:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item
    finally:
        # On an early exit the readers may be blocked on the full queue: drain until they end.
        stop.set()
        while any(t.is_alive() for t in threads):
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                continue
