"""The background writer: a bounded queue, one daemon thread, batched inserts, a spool.

Recording must never slow or break the app's own LLM call, so `submit` only enqueues. One
thread drains the queue into batches, one insert each. `submit_later` queues the work
of building a row instead of the row: capture hands over a finished response that way, so
extracting its usage, pricing it and building its row happen on this thread, not the app's.

When the database cannot be used (down, locked, not answering) rows go to a local spool file
and are replayed, once, keyed by `event_id`: when it answers again, on `flush()`, and every
`retry_interval` seconds while rows wait. Only a row the database refuses for its content is
set aside, in the rejected file beside the spool (`failures` says which is which). Nothing a
row holds, and nothing in the spool, can stop the thread: it outlives any exception.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from .inbox import Inbox
from .inserter import Inserter
from .keeper import Keeper
from .snapshots import save_kept_snapshots, save_snapshot
from .spool import Spool, default_spool_path, encode_rows
from .totals import TotalsSpec
from .totals_sql import ensure_totals

if TYPE_CHECKING:
    from ..budgets.pending import Pending

__all__ = ["Writer", "default_spool_path"]

log = logging.getLogger("llmledger")

Row = dict[str, Any]
# Builds a row on the writer thread; None when there is nothing to write. It must contain
# its own errors (the writer logs and counts any that escape).
RowMaker = Callable[[], Row | None]
_STOP = object()


_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _restart_writers_in_child() -> None:
    for writer in list(_writers):
        writer._restart_in_child()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_restart_writers_in_child)


def _then(prepare: Callable[[], None] | None, engine: Engine, totals: TotalsSpec):
    def prepare_and_ensure_totals() -> None:
        if prepare is not None:
            prepare()
        ensure_totals(engine, totals)

    return prepare_and_ensure_totals


class _Accepted:
    """A row maker whose row was counted as pending when it was queued."""

    __slots__ = ("make_row",)

    def __init__(self, make_row: RowMaker) -> None:
        self.make_row = make_row

    def __call__(self) -> Row | None:
        return self.make_row()


class Writer:
    """Writes ledger rows to `engine` from a background thread, in batches.

    Rows are dicts keyed by the column names of `schema.calls` except ``id``. Create one per
    engine and call `close()` at exit (``atexit.register(writer.close)``): its thread is a
    daemon, so rows still queued when the interpreter ends are otherwise lost. A process
    forked after the writer started (``gunicorn --preload``) gets a writer thread of its own.

    `spool_path` (default `default_spool_path`) holds rows while the database is unavailable
    or the queue (`max_queue` rows) is full; rows the database refuses for their content go,
    logged with their `event_id` and the reason, to the ``*.rejected.jsonl`` file beside it.
    A batch is written when it reaches `batch_size` rows or `flush_interval` seconds after
    its first row. `prepare`, if given, runs on the writer thread before its first write
    and again until it succeeds (a schema check), then `snapshot` (id, source, content), the
    price snapshot the rows name, is stored; until both succeed the database counts as
    unavailable, and the snapshot is kept beside the spool so that rows replayed by another
    process never name a snapshot the database lacks. With `totals`, each row written is also
    added to the spend totals of that spec, in its insert's transaction (`store.totals`);
    before its first write the writer rebuilds the totals if they were built for another
    spec. `pending` (budgets' `Pending`) is told each row once it is known (`accept`) and
    once the writer is done with it (`settle`): written, spooled or set aside.
    `after_batch(rows)` runs on the writer thread after each batch of new rows is written
    (budgets' notifications), before the flushes waiting on it are released; it must not
    raise. `release_reservations`: each row written also releases the budget reservations
    made under its `event_id`, in the transaction that adds its cost to the totals
    (`Budget(reserve=True)`).
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
        prepare: Callable[[], None] | None = None,
        snapshot: tuple[str, str, bytes] | None = None,
        totals: TotalsSpec | None = None,
        pending: Pending | None = None,
        after_batch: Callable[[list[Row]], None] | None = None,
        release_reservations: bool = False,
    ) -> None:
        self.engine = engine
        self.spool = Spool(Path(spool_path) if spool_path else default_spool_path(engine))
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_interval = retry_interval
        self._prepare = prepare if totals is None else _then(prepare, engine, totals)
        self._snapshot = snapshot
        self._snapshot_kept = False
        self._queue = Inbox(max_queue, batch_size, flush_interval)
        self._inserter = Inserter(engine, batch_size, totals, release_reservations)
        self._keeper = Keeper(self.spool)
        self._thread_lock = threading.Lock()
        self._overflowing = False  # between the first full-queue spill and the next write
        self._last_replay = 0.0  # monotonic time of the last replay attempt
        self._closed = False
        self._pending = pending
        self._after_batch = after_batch
        self._start()
        _writers.add(self)

    @property
    def _sqlite(self):  # the SQLite statement builder (tests shrink its rows per statement)
        return self._inserter.sqlite

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmledger-writer", daemon=True)
        self._thread.start()

    def _restart_in_child(self) -> None:
        # A forked child (gunicorn --preload, multiprocessing) inherits no threads: without
        # a writer of its own its rows would only pile up. Queued rows stay the parent's to
        # write, and the parent's pooled connections are not the child's to use.
        self.engine.dispose(close=False)
        self._queue = Inbox(self._queue.maxsize, self.batch_size, self.flush_interval)
        self._keeper.after_fork()
        self._thread_lock = threading.Lock()
        if not self._closed:
            self._start()

    def _ensure_thread(self) -> None:
        """Start a new writer thread if this one ended. It outlives any exception; only
        something like SystemExit raised inside a row maker can end it."""
        with self._thread_lock:
            if not self._thread.is_alive():
                log.error("llmledger: the writer thread had stopped; starting a new one")
                self._start()

    # -- the app's side -------------------------------------------------------------------

    def submit(self, row: Row) -> None:
        """Queue one row for writing; never blocks on the database and never raises.

        When the queue is full, or after `close()`, the row goes straight to the spool.
        """
        self._enqueue(row)

    def submit_later(self, make_row: RowMaker, *, row: Row | None = None) -> None:
        """Queue `make_row`, to be called on the writer thread for the row to write. Rows
        keep their order with those from `submit`; a full queue or a closed writer builds the
        row here and spools it. `row`: the row `make_row` will return, when known already
        (then its cost counts as pending from now, not from when it is made)."""
        if row is not None and self._pending is not None:
            self._pending.accept((row,))
            make_row = _Accepted(make_row)
        self._enqueue(make_row)

    def _enqueue(self, item: Row | RowMaker) -> None:
        if self._pending is not None and type(item) is dict:
            self._pending.accept((item,))
        if not self._closed:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:  # the database is slower than the app: spill, don't block
                if not self._overflowing:
                    self._overflowing = True
                    log.warning("llmledger: write queue full; spooling rows to %s", self.spool.path)
        rows = self._rows_of([item])
        self._keeper.spool_rows(rows)
        self._settle(rows)

    def _settle(self, rows: list[Row]) -> None:
        if self._pending is not None:
            self._pending.settle(rows)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted before this call is written, spooled or set aside.

        Spooled rows waiting for replay are replayed first when the database is available.
        Returns False if `timeout` seconds passed first, or if a row was lost meanwhile
        (neither written, spooled nor set aside: the disk refused the spool too). A writer
        thread that had stopped is started again first, so this never waits on a dead one.
        """
        if self._closed:
            return True  # close() wrote or spooled everything
        self._ensure_thread()
        lost = self._keeper.lost()
        done = threading.Event()
        self._queue.put_marker(done)
        return done.wait(timeout) and self._keeper.lost() == lost

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, then stop the thread. Later rows go to the spool."""
        if self._closed:
            return
        self._ensure_thread()
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
            elif item is not _STOP:
                leftover.append(item)
        rows = self._rows_of(leftover)
        if rows:
            self._keeper.spool_rows(rows)
            self._settle(rows)

    def on_thread(self) -> bool:
        """Whether the caller runs on this writer's thread (where queued row makers run)."""
        return threading.current_thread() is self._thread

    def queued(self) -> int:
        """Rows (and flush requests) waiting in the queue, approximately: for monitoring."""
        return self._queue.qsize()

    def stats(self) -> dict[str, int]:
        """Counters since start.

        ``written``: rows inserted from the queue; ``spooled``: rows put in the spool;
        ``replayed``: spooled rows sent again (a row re-sent after an interrupted replay
        counts again, the database keeps it once); ``rejected``: rows set aside in the
        rejected file (refused by the database for their content, or not rows at all);
        ``outages``: times the database became unavailable; ``errors``: failed insert
        statements; ``lost``: rows that could be neither written, spooled nor set aside.
        """
        return self._keeper.stats()

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        batch: list[Row] = []
        waiters: list[threading.Event] = []
        try:
            while True:
                batch, waiters = [], []
                if self._next_batch(batch, waiters):
                    return
        except BaseException:
            # The thread ends (SystemExit raised in a row maker): the rows in hand go to
            # the spool and their flushes are released; the next flush() starts a thread.
            self._keeper.spool_rows(batch)
            self._settle(batch)
            for waiter in waiters:
                waiter.set()
            raise

    def _next_batch(self, batch: list[Row], waiters: list[threading.Event]) -> bool:
        """Collect one batch and write it; True once asked to stop."""
        try:
            # Rows in the spool (this run's or an earlier one's) are retried when idle.
            idle_retry = self.retry_interval if self.spool.pending() else None
            item = self._queue.get_first(timeout=idle_retry)
        except queue.Empty:  # idle while rows wait in the spool: try the database again
            self._guarded(self._replay)
            return False
        stop = self._take(item, batch, waiters)
        deadline = time.monotonic() + self.flush_interval
        while not stop and not waiters and len(batch) < self.batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:  # the interval is over: write what we have
                break
            stop = self._take(item, batch, waiters)
        self._guarded(self._write, batch, bool(waiters), fallback=batch)
        self._settle(batch)
        if self._after_batch is not None and batch and not self._keeper.unavailable:
            self._after_batch(batch)  # not in an outage: the batch is spooled, nothing to read
        for waiter in waiters:
            waiter.set()
        waiters.clear()
        batch.clear()
        return stop

    def _guarded(
        self, work: Callable[..., None], *args: Any, fallback: list[Row] | None = None
    ) -> None:
        try:
            work(*args)
        # A bug of this module must not end recording for the life of the process (an
        # uncaught OverflowError once did): log it, keep the rows in hand, go on.
        except Exception:
            self._keeper.count("errors")
            log.exception("llmledger: the writer failed; its rows in hand go to the spool")
            if fallback:
                self._keeper.spool_rows(list(fallback))

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
                self._keeper.count("errors")
                log.exception("llmledger: could not build a row to write")
                continue
            if row is not None:
                rows.append(row)
                if self._pending is not None and type(item) is not _Accepted:
                    self._pending.accept((row,))
        return rows

    def _write(self, batch: list[Row], flushing: bool) -> None:
        """Insert fresh rows (spooling what cannot go in now), then replay the spool when
        the database just came back, a flush asks, or `retry_interval` has passed."""
        was_unavailable = self._keeper.unavailable
        available = self._write_new(batch) if batch else True
        due = time.monotonic() - self._last_replay >= self.retry_interval
        if available and (flushing or was_unavailable or due) and self.spool.pending():
            self._replay()

    def _write_new(self, batch: list[Row]) -> bool:
        """True if the database took the batch (or refused only some rows' content)."""
        if not self._ready():
            self._keeper.spool_rows(batch)
            return False
        result = self._inserter.insert(batch)
        self._keeper.count("written", result.written)
        self._keeper.settle(result)
        if result.kept:
            self._keeper.spool_rows(result.kept)
        if result.unavailable is not None:
            return False
        self._overflowing = False
        return True

    def _ready(self) -> bool:
        """Whether `prepare` has succeeded and the price snapshot is stored (doing both if
        not). Until then the snapshot is kept beside the spool, for whichever process
        replays the rows that name it."""
        if self._prepare is None and self._snapshot is None:
            return True
        try:
            if self._prepare is not None:
                self._prepare()
                self._prepare = None
            if self._snapshot is not None:
                with self.engine.begin() as conn:
                    save_snapshot(conn, *self._snapshot)
                self._snapshot = None
        # What the database raises when it cannot be used, or SchemaNotReadyError while the
        # ledger's tables are missing: either way rows wait in the spool and this is retried.
        except Exception as exc:
            self._keeper.mark_unavailable(exc)
            self._keep_snapshot()
            return False
        return True

    def _keep_snapshot(self) -> None:
        if self._snapshot is None or self._snapshot_kept:
            return
        try:
            self.spool.keep_snapshot(*self._snapshot)
            self._snapshot_kept = True
        except OSError as exc:  # the rows still spool; only their rule's snapshot is lost
            log.error("llmledger: cannot keep the price snapshot beside the spool: %s", exc)
            self._keeper.count("errors")

    def _replay(self) -> None:
        self._last_replay = time.monotonic()
        if not self._ready():
            return
        try:
            save_kept_snapshots(self.engine, self.spool)
        # As in `_ready`: the database cannot be used now; the rows wait with their snapshots.
        except Exception as exc:
            self._keeper.mark_unavailable(exc)
            return
        try:
            files = self.spool.claim()
        except OSError as exc:  # spool folder unreadable or gone
            log.error("llmledger: cannot read the spool %s: %s", self.spool.path, exc)
            self._keeper.count("errors")
            return
        replayed = 0
        for path in files:
            try:
                rows, bad_lines = self.spool.read(path)
            except FileNotFoundError:  # another process sharing the spool replayed it first
                continue
            result = self._inserter.insert(rows)
            self._keeper.count("replayed", result.written)
            replayed += result.written
            self._keeper.settle(result)
            if result.unavailable is not None and not (result.written or result.refused):
                return  # nothing went in: leave the file whole for the next try
            if result.kept:
                # Rows not written yet go back to the spool before this file goes, so a
                # crash in between leaves them twice (kept once by event_id), never lost.
                self.spool.append(encode_rows(result.kept))
            for line in bad_lines:  # once the file is done, so a retried file moves them once
                self._keeper.reject_line(line)
            path.unlink(missing_ok=True)  # missing: another process finished it too
            if result.unavailable is not None:
                return
        if replayed:
            log.info("llmledger: replayed %d spooled rows", replayed)
