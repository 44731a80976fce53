"""Reading a SQLite ledger file as Arrow without a second SQLite library in this process.

The rule: never open a SQLite file through a second, bundled copy of SQLite in a process
that writes it. SQLite's locks are POSIX advisory locks, which belong to the process, and
closing any file descriptor of a file drops every lock the process holds on it. Each copy
of SQLite works around that for its own connections only. So when ADBC's bundled SQLite
closed its connection in the process where Python's `sqlite3` was writing, the writer's
locks were gone: another process (the nightly `llmledger reaggregate`) then found no lock of
the app's and acted as the file's only user (the last connection to close checkpoints and
removes the write-ahead log and its shared-memory index), and the ledger was corrupted
("database disk image is malformed", lost rows, rows read back garbled). See
https://www.sqlite.org/howtocorrupt.html, section 2.2.

So a large read runs ADBC's SQLite driver (the fastest reader measured, two connections in
two threads) in a process of its own, `sqlite_child`, which streams Arrow IPC back through
a pipe; a small read, where starting that process (0.35 s on a quiet machine: an interpreter,
pyarrow, the driver) would dominate, goes through this process's own `sqlite3`, the writer's
library.

The reader process is one-shot and tied to this read: it starts within `START_TIMEOUT` or
the read fails with `ReaderNotStarted` before any row (no interpreter at `PYTHON`, as in an
embedded one such as uWSGI or mod_wsgi, whose `sys.executable` is the server's binary; or no
process at all), which the caller may answer by reading another way; its later errors are
raised here as `ReaderProcessError` with its own message; it is killed and reaped when the
consumer stops early or raises, and it exits by itself when this process dies (its stdin, a
pipe from here, reaches end of file). Nothing is inherited from this process but its working
directory and environment: its stdin, stdout and stderr are pipes and a temporary file of
its own, so a parent without a stdin, or a forked worker, starts it the same way.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from . import sqlite_child

__all__ = [
    "PYTHON",
    "SMALL_READ_ROWS",
    "START_TIMEOUT",
    "ReaderNotStarted",
    "ReaderProcessError",
    "read_in_own_process",
]

SMALL_READ_ROWS = 100_000
"""Reads of fewer rows than this stay in this process (through `sqlite3`). Measured with
rollups of time windows of the 1M-row ledger of benches/bench_sql_rollup.py on a loaded
2-core machine: in this process 0.12 s for 11k rows, 0.83 s for 55k, 1.49 s for 100k; in the
reader process 0.71 s, 1.34 s, 1.51 s."""

START_TIMEOUT = 30.0
"""Seconds the reader process may take to start (its imports) before the read fails."""

PYTHON: str | None = sys.executable
"""The interpreter that runs the reader process: this process's own, unless set. Python
documents `sys.executable` as possibly empty or None; an embedded interpreter has its host's
binary there."""

_CHILD = Path(sqlite_child.__file__)
_PIPE_BYTES = 1 << 20  # the parent's read buffer: a batch of 65,536 rows is a few MB


class ReaderProcessError(RuntimeError):
    """The process reading the SQLite file failed; the message ends with its own error."""


class ReaderNotStarted(ReaderProcessError):
    """The reader process could not be started, or did not say it was ready within
    `START_TIMEOUT`: nothing was read (raised before the first batch)."""


def read_in_own_process(
    database: str,
    sqls: Sequence[str],
    schema: pa.Schema,
    *,
    batch_rows: int,
    busy_timeout: float,
) -> Iterator[pa.RecordBatch]:
    """The rows of every statement in `sqls` (run concurrently, in no particular order), as
    batches of `schema`, read from the SQLite file `database` by a reader process."""
    request = {
        "sys_path": sys.path,
        "database": os.path.abspath(database),
        "sqls": list(sqls),
        "schema": schema.serialize().to_pybytes().hex(),
        "batch_rows": batch_rows,
        "busy_timeout_ms": int(busy_timeout * 1000),
    }
    if not PYTHON:
        raise ReaderNotStarted(
            "the SQLite reader process has no interpreter: sys.executable is empty"
        )
    with tempfile.TemporaryFile() as stderr:
        try:
            # stderr goes to a file, not a pipe: a child writing a long traceback can never
            # block on a pipe this process is not reading, while this process waits on stdout.
            child = subprocess.Popen(
                # -P: the script's folder (this package's) is not put on the child's sys.path.
                [PYTHON, "-P", str(_CHILD)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                bufsize=_PIPE_BYTES,
            )
        # No such file, not executable, not a program, or no process to be had (EAGAIN,
        # ENOMEM): nothing started.
        except OSError as error:
            raise ReaderNotStarted(f"the SQLite reader process could not start: {error}") from None
        try:
            yield from _stream(child, request, stderr)
        finally:
            if child.poll() is None:  # stopped early, or an error here: the rows are unwanted
                child.kill()
            child.wait()
            child.stdout.close()
            child.stdin.close()  # written through its descriptor: nothing buffered to flush


def _stream(child: subprocess.Popen, request: dict, stderr) -> Iterator[pa.RecordBatch]:
    deadline = time.monotonic() + START_TIMEOUT
    try:
        started = _send(child, json.dumps(request).encode() + b"\n", deadline)
    except BrokenPipeError:  # it died at start; its stderr says why
        raise _failure(child, stderr, "could not start", ReaderNotStarted) from None
    if started:
        ready, _, _ = select.select([child.stdout], [], [], max(0, deadline - time.monotonic()))
        started = bool(ready)
    if not started:
        raise ReaderNotStarted(
            f"the SQLite reader process did not start within {START_TIMEOUT:g} s"
        )
    # A program that is not Python exits, or writes something else.
    if child.stdout.read(1) != sqlite_child.READY:
        raise _failure(child, stderr, "could not start", ReaderNotStarted)
    try:
        yield from pa.ipc.open_stream(child.stdout)
    except (pa.ArrowInvalid, OSError) as error:  # the stream was cut short: the child failed
        raise _failure(child, stderr, "failed") from error
    # The stream ended with its end marker; the child only has to exit now.
    try:
        child.wait(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ReaderProcessError("the SQLite reader process did not exit after its rows") from None
    if child.returncode != 0:
        raise _failure(child, stderr, "failed")


def _send(child: subprocess.Popen, data: bytes, deadline: float) -> bool:
    """Writes `data` to the child's stdin; False if it does not take it all by `deadline`.

    Non-blocking: a request larger than the pipe's buffer (a long `where` value) waits for
    the child to read it, and a child that never starts must not hold this process.
    """
    fd = child.stdin.fileno()
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        _, writable, _ = select.select([], [fd], [], max(0, deadline - time.monotonic()))
        if not writable:
            return False
        view = view[os.write(fd, view) :]
    return True


def _failure(
    child: subprocess.Popen, stderr, what: str, kind: type[ReaderProcessError] = ReaderProcessError
) -> ReaderProcessError:
    """The child's error, once it has exited (killed if it has not within a second)."""
    try:
        child.wait(timeout=1)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    stderr.seek(0)
    message = stderr.read().decode(errors="replace").strip()
    last = message.splitlines()[-1] if message else f"exit status {child.returncode}"
    error = kind(f"the SQLite reader process {what}: {last}")
    error.add_note(message)
    return error
