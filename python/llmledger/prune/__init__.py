"""`llmledger prune`: delete old calls from the ledger, keeping what they add up to.

    llmledger.prune(engine, older_than="180d")          # or a timedelta, or before=date(...)

What each record keeps after a prune (the cutoff is rounded down to a UTC midnight, the
*horizon*, stored in `llmledger_prune_state` and read by `store.derived.pruned_before_us`):

- The ledger (`llmledger_calls`) loses the calls before the horizon, and
  `llmledger_backfill` the prices backfilled for them; except the ledger's newest call by
  id, so that SQLite never gives its id to a new call (`batches`).
- The daily rollup (`llmledger_daily_rollup`) keeps every pruned day's sums, unchanged. The
  sums of the pruned calls are also kept apart (`llmledger_pruned_rollup`), so that when late
  calls land in a pruned day the nightly job rolls it up as those sums plus the late calls.
  A pruned call that was unpriced stays counted as unpriced: no later price can reach it.
- The spend totals budgets read keep every period's totals as they were: a closed period's
  total stays the record of what was spent in it. The current day, week and month of the
  totals' time zone are never pruned: a cutoff inside one is refused. Budget crossings
  (notifications fired) are kept.
- The archive of closed days keeps every call: a prune deletes from SQL only, and the nightly
  job rewrites a pruned day as its archived rows plus the ledger's (`archive.write`).

It refuses calls the nightly job has not rolled up, and, when the database has an archive,
calls (or backfilled prices) the archive does not hold yet ("run llmledger reaggregate
first", `archived`); it takes the job's lock: never both at once. It deletes in batches, one
transaction each, so a large prune never holds a long lock on the app's database, and a prune
killed midway is finished by running it again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import URL

from ..progress import Progress
from ..reaggregate.lock import one_run_at_a_time
from ..store.derived import prune_state, pruned_before_us, state
from .archived import check_archived
from .batches import days_to_prune, delete_days, last_prunable_id
from .cutoff import PruneRefused, check_prunable, horizon_of

__all__ = ["PruneRefused", "Pruned", "prune"]

DEFAULT_BATCH = 5_000


@dataclass(frozen=True)
class Pruned:
    """What a prune did (or, with `dry_run`, would do)."""

    horizon: dt.datetime
    """Calls before this UTC midnight are pruned."""
    calls: int
    """Calls deleted from the ledger (to delete, with `dry_run`)."""
    backfilled: int
    """Backfilled prices deleted with them (0 with `dry_run`)."""
    days: int
    """Days whose calls were deleted."""
    dry_run: bool

    def __str__(self) -> str:
        before = self.horizon.strftime("%Y-%m-%d %H:%M UTC")
        if self.dry_run:
            return (
                f"prune --dry-run: would delete {self.calls:,} calls before {before} "
                f"over {self.days:,} days; their sums stay in the daily rollup and budget totals"
            )
        return (
            f"prune: deleted {self.calls:,} calls before {before} over {self.days:,} days "
            f"(and {self.backfilled:,} backfilled prices); their sums stay in the daily rollup "
            "and budget totals"
        )


def prune(
    engine: Engine | URL | str,
    older_than: dt.timedelta | str | None = None,
    *,
    before: dt.date | dt.datetime | None = None,
    dry_run: bool = False,
    archive: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: TextIO | None = None,
    _after_batch: Callable[[int], object] | None = None,
    _now: dt.datetime | None = None,
) -> Pruned:
    """Delete the ledger's calls older than `older_than` ("180d", "26w" or a timedelta),
    or dated before `before`, rounded down to a UTC midnight; return what was deleted.

    The module's docstring says what the daily rollup, the budget totals and the archive keep.
    `PruneRefused` (nothing deleted) for a cutoff inside today or a budget period still open,
    or calls before it that the nightly job has not rolled up or, when the database has an
    archive (at `archive`, default `llmledger.archive.archive_location`'s), that the archive
    does not hold yet; `AlreadyRunning` while
    `llmledger reaggregate` or another prune runs. `dry_run` counts without deleting.
    `batch_size` calls are deleted per transaction; the progress bar goes to `progress`
    (default stderr). `_after_batch(calls)` runs after each batch commits and `_now`
    stands for the clock (for tests).
    """
    from ..store import make_engine
    from ..store.engine import require_ledger

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
    now = _now or dt.datetime.now(dt.UTC)
    horizon = horizon_of(older_than, before, now)
    owned = make_engine(engine)
    try:
        require_ledger(owned)
        with one_run_at_a_time(owned):
            cut = (horizon, now, archive)
            return _prune(owned, cut, dry_run, batch_size, progress, _after_batch)
    finally:
        if owned is not engine:  # made here from a URL: close its pooled connections
            owned.dispose()


def _prune(engine, cut, dry_run, batch_size, progress, after_batch) -> Pruned:
    horizon, now, archive = cut
    with engine.connect() as conn:
        rolled_up = check_prunable(conn, horizon, now)
        query = select(state.c.tag_keys).where(state.c.name == "daily")
        keys = tuple(conn.execute(query).scalar_one())
        last_id = last_prunable_id(conn, rolled_up)
        check_archived(conn, engine, archive, horizon, last_id)
        days = days_to_prune(conn, horizon, last_id)
    at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=horizon)
    if dry_run:
        return Pruned(at, sum(n for _, n in days), 0, len(days), dry_run=True)
    _save_horizon(engine, horizon)
    with Progress(sum(n for _, n in days), "prune calls", stream=progress) as bar:
        ids_to = (last_id, rolled_up)
        deleted = delete_days(engine, days, ids_to, keys, batch_size, bar, after_batch)
    return Pruned(at, deleted.calls, deleted.backfilled, deleted.days, dry_run=False)


def _save_horizon(engine: Engine, horizon: int) -> None:
    """Record the horizon before the first call is deleted, so that from then on every reader
    knows the ledger may be short below it (a killed prune included). It only moves forward."""
    now_us = time.time_ns() // 1000
    with engine.begin() as conn:
        held = pruned_before_us(conn)
        if held is None:
            values = {"name": "horizon", "before_us": horizon, "updated_at_us": now_us}
            conn.execute(insert(prune_state).values(**values))
        elif horizon > held:
            conn.execute(
                update(prune_state)
                .where(prune_state.c.name == "horizon")
                .values(before_us=horizon, updated_at_us=now_us)
            )
