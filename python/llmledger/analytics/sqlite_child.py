"""The reader process of `sqlite_reader`: SQLite through ADBC, Arrow IPC out on stdout.

Run as a script by its file path (never imported by the package): this process holds one
SQLite library only, the one ADBC's driver bundles, so its locks cannot be dropped by another
copy's close (see `sqlite_reader`). It imports nothing of llmledger, only the standard
library, pyarrow and the driver, which keeps its start short.

Protocol. Stdin: one JSON line, the request (`sys_path`, `database`, `sqls`, `schema` as
hex of a serialized Arrow schema, `batch_rows`, `busy_timeout_ms`); after it, stdin stays
open and its end means the parent is gone or no longer wants the rows, so this process ends
at once. Stdout: one byte `READY` once the imports are done, then one Arrow IPC stream of
the rows of every statement (read concurrently, one connection and thread each), every batch
in the request's schema. Any error: its traceback on stderr and exit status 1, without the
stream's end marker.
"""

import json
import os
import queue
import sys
import threading
import traceback
import urllib.parse

READY = b"R"
WATCHDOG_EXIT = 3  # the parent closed stdin: it is gone, or stopped reading


def _watch_parent() -> None:
    sys.stdin.buffer.read()  # returns at end of file only
    os._exit(WATCHDOG_EXIT)


def _read(adbc_sqlite, pa, request: dict, sql: str, schema, out: queue.Queue) -> None:
    """Puts the rows of `sql` on `out` as batches of `schema`, then None (or the error)."""
    # ADBC infers each column's type from the first batch and fails when a later batch
    # disagrees (a column NULL in the first rows comes out Int64, then a REAL arrives): a
    # first row of typed literals pins the types, and is dropped from the first batch.
    literal = {pa.int64(): "0", pa.float64(): "0.5", pa.string(): "''"}
    quoted = ['"' + f.name.replace('"', '""') + '"' for f in schema]
    pin = ", ".join(f"{literal[f.type]} AS {q}" for f, q in zip(schema, quoted, strict=True))
    # Read-only: this process can never write the ledger, whatever the statement says.
    uri = "file:" + urllib.parse.quote(request["database"]) + "?mode=ro"
    try:
        with adbc_sqlite.connect(uri) as connection, connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(request['busy_timeout_ms'])}")
            cursor.fetchall()
            options = {"adbc.sqlite.query.batch_rows": str(int(request["batch_rows"]))}
            cursor.adbc_statement.set_options(**options)
            cursor.execute(f"SELECT {pin} UNION ALL {sql}")
            first = True
            for batch in cursor.fetch_record_batch():
                if first:
                    batch, first = batch.slice(1), False
                if not batch.schema.equals(schema):
                    columns = [c.cast(f.type) for c, f in zip(batch.columns, schema, strict=True)]
                    batch = pa.RecordBatch.from_arrays(columns, schema=schema)
                out.put(batch)
    except Exception:  # any error here (the driver's, a cast's) must reach the parent, else
        # it would see a stream that ends cleanly, short of rows: the main thread reports it.
        out.put(traceback.format_exc())
        return
    out.put(None)


def main() -> None:
    request = json.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_watch_parent, daemon=True).start()
    sys.path[:] = request["sys_path"]  # the parent's: the same pyarrow and driver
    import adbc_driver_sqlite.dbapi as adbc_sqlite
    import pyarrow as pa

    stdout = sys.stdout.buffer
    stdout.write(READY)
    stdout.flush()
    schema = pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(request["schema"])))
    out: queue.Queue = queue.Queue(maxsize=4 * len(request["sqls"]))
    for sql in request["sqls"]:
        args = (adbc_sqlite, pa, request, sql, schema, out)
        threading.Thread(target=_read, args=args, daemon=True).start()
    running = len(request["sqls"])
    with pa.ipc.new_stream(stdout, schema) as writer:
        while running:
            item = out.get()
            if item is None:
                running -= 1
            elif isinstance(item, str):
                sys.stderr.write(item)
                sys.stderr.flush()
                os._exit(1)  # no end marker: the parent sees a stream cut short
            else:
                writer.write_batch(item)
    stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except BaseException:  # anything (a BrokenPipeError, a KeyboardInterrupt): on stderr, exit 1
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)  # not waiting for the readers' daemon threads to be torn down
