"""The nightly job: keep `llmledger_daily_rollup` equal to the ledger, touching only what changed.

A run reads the watermark (the highest ledger `id` already rolled up) and the ledger's current
highest id. The days to recompute are the UTC days of the rows between the two (so a row that
arrives late, with an old timestamp, recomputes its old day) plus the days of calls it can now
price that were recorded unpriced. Each day is recomputed in one transaction, from the ledger
plus the sums kept of the day's pruned calls (`days`: so a late call landing in a pruned day
adds to what was pruned, never replaces it): its backfill rows written (and their prices
added to the spend totals, when the database keeps any), its rollup rows deleted and
inserted; the last day's transaction also moves the watermark. A run killed midway leaves the
watermark where it was, so the next run recomputes the same days (each recomputation replaces
the day) and ends in the same state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, select

from ..money import usd
from ..pricing import Pricer
from ..progress import Progress
from ..store import save_snapshot
from ..store.derived import (
    LOOKBACK_IDS,
    backfill,
    daily_models,
    daily_rollup,
    pruned_rollup,
    state,
)
from ..store.schema import calls
from ..store.totals_sql import add_backfilled
from .backfill import DAY_US, price_unpriced
from .days import EPOCH, recompute_day

if TYPE_CHECKING:
    from ..archive import ArchiveRun

__all__ = ["DEFAULT_TAG_KEYS", "Summary", "run_job"]

DEFAULT_TAG_KEYS = ("feature", "tenant")
_STATE = "daily"


@dataclass(frozen=True)
class Summary:
    """What a run did."""

    new_calls: int
    """Ledger rows rolled up for the first time."""
    late_calls: int
    """Of those, rows dated before the newest day already rolled up (late arrivals)."""
    days: int
    """Days recomputed."""
    backfilled_calls: int
    """Calls recorded unpriced that this run priced (into `llmledger_backfill`)."""
    backfilled_cost: Decimal
    """Their cost, USD; the recorded rows keep their NULL cost."""
    snapshot_id: str | None
    """The price snapshot used for the backfill (None when nothing was backfilled)."""
    unpriced_calls: int
    """Calls still without a price after this run."""
    watermark: int
    """Highest ledger id rolled up."""
    rebuilt: bool
    archive: ArchiveRun | str | None = None
    """The archive step's run, or why none ran (a sentence); None from `run_job` alone."""

    def __str__(self) -> str:
        line = (
            f"reaggregate: {self.new_calls:,} new calls ({self.late_calls:,} late), "
            f"{self.days:,} days recomputed, watermark id {self.watermark:,}"
        )
        if self.rebuilt:
            line = line.replace("reaggregate:", "reaggregate --rebuild:", 1)
        if self.backfilled_calls:
            line += (
                f"; backfilled {self.backfilled_calls:,} unpriced calls at "
                f"{usd(self.backfilled_cost)} with snapshot {str(self.snapshot_id)[:12]} "
                "(recorded costs unchanged, see llmledger_backfill)"
            )
        line += f"; {self.unpriced_calls:,} calls unpriced"
        return line if self.archive is None else f"{line}; {self.archive}"


def _tag_keys(conn: Connection, requested: tuple[str, ...] | None, rebuild: bool):
    row = conn.execute(select(state).where(state.c.name == _STATE)).one_or_none()
    if row is None:
        return 0, tuple(requested or DEFAULT_TAG_KEYS), True
    stored = tuple(row.tag_keys)
    keys = tuple(requested) if requested else stored
    if keys != stored and not rebuild:
        raise ValueError(
            f"the daily rollup groups by tags {list(stored)}, not {list(keys)}: "
            "run `llmledger reaggregate --rebuild` to regroup it"
        )
    if keys != stored and conn.execute(select(exists().select_from(pruned_rollup))).scalar():
        raise ValueError(
            f"the daily rollup cannot be regrouped by tags {list(keys)}: it keeps the sums "
            f"of pruned calls by {list(stored)}, and the ledger no longer has those calls"
        )
    return (0 if rebuild else row.watermark_id), keys, False


def _recompute_day(
    conn: Connection, day: int, max_id: int, keys: tuple[str, ...], backfills: list[dict]
) -> None:
    if backfills:
        conn.execute(insert(backfill), backfills)
        # In the same transaction: a price is added to the spend totals once, with its row.
        add_backfilled(conn, backfills)
    recompute_day(conn, day, max_id, keys)


def _save_state(conn: Connection, watermark: int, keys: tuple[str, ...], exists: bool) -> None:
    values = {
        "watermark_id": watermark,
        "tag_keys": list(keys),
        "updated_at_us": time.time_ns() // 1000,
    }
    if exists:
        conn.execute(state.update().where(state.c.name == _STATE).values(**values))
    else:
        conn.execute(insert(state).values(name=_STATE, **values))


def run_job(
    engine: Engine,
    pricer: Pricer,
    *,
    rebuild: bool = False,
    tag_keys: tuple[str, ...] | None = None,
    progress: TextIO | None = None,
    _after_day: Any = None,
) -> Summary:
    """One run of the job (see the module's docstring). `_after_day(day)` is called after
    each day's transaction commits (tests use it to stop a run midway)."""
    with engine.connect() as conn:
        watermark, keys, new_state = _tag_keys(conn, tag_keys, rebuild)
        max_id = conn.execute(select(func.max(calls.c.id))).scalar_one() or 0
        day_of = calls.c.at_us // DAY_US
        fresh = and_(calls.c.id > watermark, calls.c.id <= max_id)
        # On a server database a slow writer's row can commit after MAX(id) was read with an
        # id below it; recomputing the days of the last LOOKBACK_IDS ids as well (harmless:
        # a day recomputed replaces itself) counts such rows on the next run with new rows.
        recent = and_(calls.c.id > watermark - LOOKBACK_IDS, calls.c.id <= max_id)
        touched = recent if max_id > watermark and watermark else fresh
        days = set(conn.execute(select(day_of).where(touched).distinct()).scalars())
        newest = conn.execute(select(func.max(daily_rollup.c.day))).scalar_one()
        late = 0
        if newest is not None and not rebuild:
            late_from = ((newest - EPOCH).days) * DAY_US
            late = conn.execute(
                select(func.count()).where(fresh, calls.c.at_us < late_from)
            ).scalar_one()
        new_calls = conn.execute(select(func.count()).where(fresh)).scalar_one()
        backfills = price_unpriced(conn, pricer, max_id)
    days = {int(d) for d in days} | set(backfills)
    backfilled = [b for rows in backfills.values() for b in rows]
    if backfilled:
        with engine.begin() as conn:
            save_snapshot(conn, pricer.snapshot_id, pricer.source, pricer.snapshot_content)
    ordered = sorted(days)
    with engine.begin() as conn:
        if rebuild:
            # From scratch: drop every day and reset the watermark in one transaction, so a
            # rebuild killed midway is finished by the next run, whatever its flags.
            conn.execute(delete(daily_rollup))
            conn.execute(delete(daily_models))
            _save_state(conn, 0, keys, exists=not new_state)
            new_state = False
            every_day = select(day_of).where(calls.c.id <= max_id).distinct()
            pruned_days = select(pruned_rollup.c.day).distinct()
            ordered = sorted(
                {int(d) for d in conn.execute(every_day).scalars()}
                | {(d - EPOCH).days for d in conn.execute(pruned_days).scalars()}
                | days
            )
        if not ordered:
            _save_state(conn, max_id, keys, exists=not new_state)
    with Progress(len(ordered), "reaggregate days", stream=progress) as bar:
        for i, day in enumerate(ordered):
            with engine.begin() as conn:
                _recompute_day(conn, day, max_id, keys, backfills.get(day, []))
                if i == len(ordered) - 1:
                    _save_state(conn, max_id, keys, exists=not new_state)
            bar.advance()
            if _after_day is not None:
                _after_day(day)
    with engine.connect() as conn:
        unpriced = conn.execute(
            select(func.count())
            .select_from(calls.outerjoin(backfill, backfill.c.call_id == calls.c.id))
            .where(
                calls.c.cost.is_(None),
                calls.c.status == "ok",
                backfill.c.call_id.is_(None),
                calls.c.id <= max_id,
            )
        ).scalar_one()
    return Summary(
        new_calls=new_calls,
        late_calls=late,
        days=len(ordered),
        backfilled_calls=len(backfilled),
        backfilled_cost=Decimal(sum(b["cost"] for b in backfilled)).scaleb(-12),
        snapshot_id=pricer.snapshot_id if backfilled else None,
        unpriced_calls=unpriced,
        watermark=max_id,
        rebuilt=rebuild,
    )
