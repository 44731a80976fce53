"""The background writer: a bounded queue, one daemon thread, batched inserts, a spool.

Recording must never slow or break the app's own LLM call, so `submit` only enqueues. One
thread drains the queue into batches, one insert each. `submit_later` queues the work
of building a row instead of the row: capture hands over a finished response that way, so
extracting its usage, pricing it and building its row happen on this thread, not the app's.

When the database is down the batch goes to a local spool file and is replayed, once, keyed
by `event_id`, after the next successful write (or every `retry_interval` seconds while rows
wait).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError

from .dialects import SqliteBulkInsert, insert_ignoring_duplicates
from .schema import calls
from .spool import Spool, dumps_rows

__all__ = ["Writer", "default_spool_path"]

log = logging.getLogger("llmledger")

Row = dict[str, Any]
# Builds a row on the writer thread; None when there is nothing to write. It must contain
# its own errors (the writer logs and counts any that escape).
RowMaker = Callable[[], Row | None]
_STOP = object()
# What a database raises when it cannot be used right now (refused or lost connection,
# timeout, lock): rows go to the spool and are retried. Any other StatementError means the
# database answered and refused a row's content.
_UNAVAILABLE = (OperationalError, InterfaceError)


def default_spool_path(engine: Engine) -> Path:
    """Next to a SQLite file, named after it (two databases in one folder never share a
    spool); for a server database or in-memory SQLite, ``llmledger-spool.jsonl`` in the
    working directory."""
    url = make_url(engine.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database).resolve()
        return database.with_name(f"llmledger-spool-{database.name}.jsonl")
    return Path.cwd() / "llmledger-spool.jsonl"


_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _restart_writers_in_child() -> None:
    for writer in list(_writers):
        writer._restart_in_child()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_restart_writers_in_child)


class _Inbox:
    """The writer's queue, cheap for the app's threads.

    `queue.Queue` wakes the writer thread on every row; each wake-up makes the app's thread
    hand the GIL over and wait to get it back, tens of microseconds per recorded call. Here a
    row is a `deque.append` (atomic, no lock); the writer is woken only when a batch is full
    or a flush or stop is asked, and otherwise polls every `poll` seconds.
    """

    def __init__(self, maxsize: int, wake_at: int, poll: float) -> None:
        self.maxsize = maxsize
        # No poll interval (flush_interval=0) means "write each row now": wake on every row,
        # and between rows block until woken rather than spin.
        self._wake_at = wake_at if poll > 0 else 1
        self._poll = poll if poll > 0 else None
        self._items: deque[Any] = deque()
        self._wake = threading.Event()

    def put_nowait(self, row: Row | RowMaker) -> None:
        """Add a row (or a row maker); `queue.Full` when `maxsize` rows wait."""
        items = self._items
        if len(items) >= self.maxsize:
            raise queue.Full
        items.append(row)
        if len(items) == self._wake_at:
            self._wake.set()

    def put_marker(self, marker: Any) -> None:
        """Add a flush or stop marker (never refused) and wake the writer now."""
        self._items.append(marker)
        self._wake.set()

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; `queue.Empty` when none came within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._items.popleft()
            except IndexError:  # empty: wait for a wake-up or the next poll
                pass
            wait = self._poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise queue.Empty
                wait = left if wait is None else min(wait, left)
            self._wake.wait(wait)
            self._wake.clear()

    def get_nowait(self) -> Any:
        try:
            return self._items.popleft()
        except IndexError:
            raise queue.Empty from None

    def qsize(self) -> int:
        return len(self._items)


class Writer:
    """Writes ledger rows to `engine` from a background thread, in batches.

    Rows are dicts keyed by the column names of `schema.calls` except ``id``. Create one per
    engine and call `close()` at exit (``atexit.register(writer.close)``): its thread is a
    daemon, so rows still queued when the interpreter ends are otherwise lost. A process
    forked after the writer started (``gunicorn --preload``) gets a writer thread of its own.

    `spool_path` (default `default_spool_path`) holds rows while the database is unavailable
    or the queue (`max_queue` rows) is full; rows the database refuses for their content go,
    logged with their `event_id`, to the ``*.rejected.jsonl`` file beside it. A batch is
    written when it reaches `batch_size` rows or `flush_interval` seconds after its first row.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        spool_path: str | PathLike[str] | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_queue: int = 100_000,
        retry_interval: float = 5.0,
    ) -> None:
        self.engine = engine
        self.spool = Spool(Path(spool_path) if spool_path else default_spool_path(engine))
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_interval = retry_interval
        self._queue = _Inbox(max_queue, batch_size, flush_interval)
        self._insert_statement = insert_ignoring_duplicates(engine.dialect, calls, "event_id")
        self._sqlite = (
            SqliteBulkInsert(calls, "event_id") if engine.dialect.name == "sqlite" else None
        )
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._unavailable = False  # between the first failed write of an outage and recovery
        self._overflowing = False  # between the first full-queue spill and the next write
        self._closed = False
        self._start()
        _writers.add(self)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmledger-writer", daemon=True)
        self._thread.start()

    def _restart_in_child(self) -> None:
        # A forked child (gunicorn --preload, multiprocessing) inherits no threads: without
        # a writer of its own its rows would only pile up. Queued rows stay the parent's to
        # write, and the parent's pooled connections are not the child's to use.
        self.engine.dispose(close=False)
        self._queue = _Inbox(self._queue.maxsize, self.batch_size, self.flush_interval)
        self._counts = Counter()
        self._counts_lock = threading.Lock()
        self.spool.after_fork()
        if not self._closed:
            self._start()

    # -- the app's side -------------------------------------------------------------------

    def submit(self, row: Row) -> None:
        """Queue one row for writing; never blocks on the database and never raises.

        When the queue is full, or after `close()`, the row goes straight to the spool.
        """
        self._enqueue(row)

    def submit_later(self, make_row: RowMaker) -> None:
        """Queue `make_row`, to be called on the writer thread for the row to write. Rows
        keep their order with those from `submit`; a full queue or a closed writer builds the
        row here and spools it."""
        self._enqueue(make_row)

    def _enqueue(self, item: Row | RowMaker) -> None:
        if not self._closed:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:  # the database is slower than the app: spill, don't block
                if not self._overflowing:
                    self._overflowing = True
                    log.warning("llmledger: write queue full; spooling rows to %s", self.spool.path)
        self._spool_rows(self._rows_of([item]))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted before this call is written or spooled.

        Spooled rows waiting for replay are replayed first when the database is available.
        Returns False if `timeout` seconds passed first.
        """
        if self._closed:
            return True  # close() wrote or spooled everything
        done = threading.Event()
        self._queue.put_marker(done)
        return done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then stop the thread. Later rows go to the spool."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_marker(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            return  # still writing; the daemon thread finishes its queue if the process lives
        # Rows that passed the `_closed` check just before it was set sit after _STOP.
        leftover = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, threading.Event):
                item.set()
            else:
                leftover.append(item)
        rows = self._rows_of(leftover)
        if rows:
            self._spool_rows(rows)

    def queued(self) -> int:
        """Rows (and flush requests) waiting in the queue, approximately: for monitoring."""
        return self._queue.qsize()

    def stats(self) -> dict[str, int]:
        """Counters since start.

        ``written``: rows inserted from the queue; ``spooled``: rows put in the spool;
        ``replayed``: spooled rows sent again (a row re-sent after an interrupted replay
        counts again, the database keeps it once); ``rejected``: rows the database refused
        for their content; ``outages``: times the database became unavailable; ``errors``:
        failed inserts plus rows that could not even be spooled.
        """
        with self._counts_lock:
            keys = ("written", "spooled", "replayed", "rejected", "outages", "errors")
            return {key: self._counts[key] for key in keys}

    def _count(self, key: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[key] += n

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                # Rows in the spool (this run's or an earlier one's) are retried when idle.
                idle_retry = self.retry_interval if self.spool.pending() else None
                item = self._queue.get(timeout=idle_retry)
            except queue.Empty:  # idle while rows wait in the spool: try the database again
                self._replay()
                continue
            batch: list[Row] = []
            waiters: list[threading.Event] = []
            stop = self._take(item, batch, waiters)
            deadline = time.monotonic() + self.flush_interval
            while not stop and not waiters and len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:  # the interval is over: write what we have
                    break
                stop = self._take(item, batch, waiters)
            available = self._write_new(batch) if batch else True
            if available and self.spool.pending():
                self._replay()
            for waiter in waiters:
                waiter.set()
            if stop:
                return

    def _take(self, item: Any, batch: list[Row], waiters: list[threading.Event]) -> bool:
        if type(item) is dict:
            batch.append(item)
        elif item is _STOP:
            return True
        elif isinstance(item, threading.Event):
            waiters.append(item)
        else:
            batch.extend(self._rows_of([item]))
        return False

    def _rows_of(self, items: list[Row | RowMaker]) -> list[Row]:
        """The rows of queued items: rows as they are, row makers called."""
        rows = []
        for item in items:
            if type(item) is dict:
                rows.append(item)
                continue
            try:
                row = item()  # type: ignore[operator]
            except Exception:  # a bug in a row maker must not stop the writer thread
                self._count("errors")
                log.exception("llmledger: could not build a row to write")
                continue
            if row is not None:
                rows.append(row)
        return rows

    def _write_new(self, batch: list[Row]) -> bool:
        """Insert fresh rows; spool them if the database is unavailable. True if it was."""
        unwritten = self._insert_isolating(batch, "written", confirm_unavailable=False)
        if unwritten:
            self._spool_rows(unwritten)
            return False
        self._overflowing = False
        return True

    def _replay(self) -> None:
        try:
            files = self.spool.claim()
        except OSError as exc:  # spool folder unreadable or gone
            log.error("llmledger: cannot read the spool %s: %s", self.spool.path, exc)
            self._count("errors")
            return
        replayed = 0
        for path in files:
            try:
                rows, torn = self.spool.read(path)
            except FileNotFoundError:  # another process sharing the spool replayed it first
                continue
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                if self._insert_isolating(chunk, "replayed", confirm_unavailable=True):
                    # Down again: keep the file whole; rows already in are skipped next time.
                    return
                replayed += len(chunk)
            for line in torn:  # once the file is done, so a retried file moves them once
                self._reject_line(line)
            path.unlink(missing_ok=True)  # missing: another process finished it too
        if replayed:
            log.info("llmledger: replayed %d spooled rows", replayed)

    def _insert_isolating(
        self, rows: list[Row], counter: str, *, confirm_unavailable: bool
    ) -> list[Row]:
        """Insert rows; returns those left unwritten because the database is unavailable.

        If the batch fails for a row's content, rows are sent one by one and only the bad
        ones are rejected. `confirm_unavailable` (replay): an operational error on a
        database that still answers a probe counts as the row's fault, so a row that fails
        the same way every time cannot pin the spool forever; fresh rows get that second
        chance through the spool instead (a lock timeout is not the row's fault).
        """
        try:
            self._insert(rows, counter)
            return []
        except _UNAVAILABLE as exc:
            if not confirm_unavailable or not self._reachable():
                self._mark_unavailable(exc)
                return rows
        except StatementError:  # some row's content was refused; find which below
            pass
        for i, row in enumerate(rows):
            try:
                self._insert([row], counter)
            except _UNAVAILABLE as exc:
                if not confirm_unavailable or not self._reachable():
                    self._mark_unavailable(exc)
                    return rows[i:]
                self._reject(row, exc)
            except StatementError as exc:  # this row's content was refused
                self._reject(row, exc)
        return []

    def _insert(self, rows: Sequence[Row], counter: str) -> None:
        try:
            with self.engine.begin() as connection:
                if self._sqlite is not None:
                    for sql, params in self._sqlite.statements(rows):
                        connection.exec_driver_sql(sql, tuple(params))
                else:
                    connection.execute(self._insert_statement, rows)
        except StatementError:  # counted here, handled by the caller
            self._count("errors")
            raise
        self._count(counter, len(rows))
        if self._unavailable:
            self._unavailable = False
            log.info("llmledger: database available again")

    def _reachable(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except _UNAVAILABLE:
            return False
        return True

    def _mark_unavailable(self, exc: Exception) -> None:
        if not self._unavailable:
            self._unavailable = True
            self._count("outages")
            log.warning(
                "llmledger: database unavailable (%s); spooling rows to %s until it is back",
                getattr(exc, "orig", exc),
                self.spool.path,
            )

    def _spool_rows(self, rows: list[Row]) -> None:
        try:
            self.spool.append(dumps_rows(rows))
        except (OSError, TypeError, ValueError) as exc:
            # OSError: disk full or spool folder unwritable; TypeError/ValueError: a value
            # JSON cannot hold. Nowhere left to keep the rows: say which ones were lost.
            self._count("errors", len(rows))
            log.error(
                "llmledger: could not spool %d rows to %s (%s); lost event_ids: %s",
                len(rows),
                self.spool.path,
                exc,
                ", ".join(str(row.get("event_id")) for row in rows),
            )
            return
        self._count("spooled", len(rows))

    def _reject(self, row: Row, exc: Exception) -> None:
        self._count("rejected")
        event_id = row.get("event_id")
        try:
            self.spool.append(dumps_rows([row]), rejects=True)
            kept = f"kept in {self.spool.rejects_path}"
        except (OSError, TypeError, ValueError) as spool_exc:  # as in _spool_rows
            kept = f"not kept: {spool_exc}"
        log.error(
            "llmledger: database refused row event_id=%s (%s); %s",
            event_id,
            getattr(exc, "orig", exc),
            kept,
        )

    def _reject_line(self, line: bytes) -> None:
        self._count("rejected")
        self._count("errors")
        try:
            self.spool.append(line + b"\n", rejects=True)
        except OSError as exc:  # disk full or folder unwritable
            log.error("llmledger: could not keep a torn spool line: %s", exc)
        log.error("llmledger: spool line is not valid JSON, moved to rejects: %.200r", line)
