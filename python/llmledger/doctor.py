"""`llmledger doctor`: is the ledger set up and healthy? One line per check, exit 1 on a problem."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from .pricing import build_pricer
from .store import make_engine
from .store.engine import current_revision, head_revision
from .store.schema import calls, price_snapshots
from .store.spool import Spool
from .store.writer import default_spool_path

__all__ = ["diagnose"]


def diagnose(url: str) -> tuple[list[str], bool]:
    """The report lines and whether everything is fine."""
    engine = make_engine(url)
    lines = [f"  database   {engine.url.render_as_string(hide_password=True)}"]
    ok = True
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        lines.append(f"  reachable  NO: {str(exc.orig).strip()}")
        return lines, False
    head = head_revision()
    if revision == head:
        lines.append(f"  schema     revision {revision}, up to date")
    else:
        ok = False
        found = "no ledger tables" if revision is None else f"revision {revision}"
        lines.append(f"  schema     {found}, needs {head}: run `llmledger db upgrade --db URL`")
    pricer = build_pricer()
    lines.append(
        f"  prices     {pricer.source}, {len(pricer.spec['models']):,} models, "
        f"snapshot {pricer.snapshot_id[:16]}"
    )
    if revision is not None:
        with engine.connect() as conn:
            count, unpriced, last = conn.execute(
                sa.select(
                    sa.func.count(),
                    # COUNT(CASE ...): MariaDB has no aggregate FILTER clause.
                    sa.func.count(sa.case((calls.c.cost.is_(None) & (calls.c.status == "ok"), 1))),
                    sa.func.max(calls.c.at_us),
                )
            ).one()
            snapshots = conn.execute(
                sa.select(sa.func.count()).select_from(price_snapshots)
            ).scalar()
        when = "never" if last is None else f"{_at(last):%Y-%m-%d %H:%M} UTC"
        share = f", {unpriced / count:.1%} unpriced" if count else ""
        lines.append(
            f"  ledger     {count:,} calls{share}, last {when}; {snapshots} price snapshots"
        )
    spool = Spool(default_spool_path(engine))
    if spool.pending():
        ok = False
        lines.append(
            f"  spool      rows waiting in {spool.path}: they are replayed on the next write"
        )
    else:
        lines.append(f"  spool      empty ({spool.path})")
    return lines, ok


def _at(ts_us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts_us)
