"""A prune of a ledger that has an archive: only calls the archive already holds may go.

Once pruned, a call's row lives on only in the archive (the daily rollup keeps sums); the
nightly job rewrites a changed pruned day as its archived rows plus the ledger's
(`archive.write`). A call deleted before the archive wrote it, or before it wrote the call's
backfilled price, would be in neither: the prune is refused ("run llmledger reaggregate
first"). A ledger with no archive (no location, or nothing written there yet) is pruned as
before: the daily rollup keeps the sums.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, or_, select

from ..archive import archive_location, archive_state
from ..store.derived import backfill
from ..store.schema import calls
from .cutoff import PruneRefused, utc

__all__ = ["check_archived"]


def check_archived(
    conn: Connection, engine: Engine, archive: str | None, horizon: int, last_id: int
) -> None:
    """`PruneRefused` if the archive at `archive` (default: the database's, see
    `archive_location`) lacks a call before `horizon` with id up to `last_id`, or its price."""
    uri = archive_location(engine, archive)
    held = None if uri is None else archive_state(uri)
    if held is None:
        return
    to_prune = (calls.c.at_us < horizon, calls.c.id <= last_id)
    missing = conn.execute(
        select(func.count()).where(
            *to_prune, or_(calls.c.at_us >= held.until_us, calls.c.id > held.through_id)
        )
    ).scalar_one()
    repriced = conn.execute(
        select(func.count()).where(
            backfill.c.at_us < horizon,
            backfill.c.call_id <= last_id,
            backfill.c.backfilled_at_us > held.backfilled_at_us,
        )
    ).scalar_one()
    if missing or repriced:
        what = (
            f"{missing:,} of its calls" if missing else f"the prices of {repriced:,} of its calls"
        )
        raise PruneRefused(
            f"not pruning calls before {utc(horizon)}: {what} are not in the archive at {uri} "
            "yet, and a pruned call's row lives on only there: run llmledger reaggregate first"
        )
