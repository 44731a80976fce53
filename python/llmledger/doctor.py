"""`llmledger doctor`: is the ledger set up and healthy? One line per check, exit 1 on a problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from .pricing import build_pricer
from .store import make_engine
from .store.engine import current_revision, head_revision
from .store.schema import calls, price_snapshots
from .store.spool import Spool, default_spool_path

__all__ = ["diagnose"]


def diagnose(url: str, spool_path: str | None = None) -> tuple[list[str], bool]:
    """The report lines and whether everything is fine."""
    engine = make_engine(url)
    lines = [f"  database   {engine.url.render_as_string(hide_password=True)}"]
    spool = Spool(Path(spool_path) if spool_path else default_spool_path(engine))
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        lines.append(f"  reachable  NO: {str(exc.orig).strip()}")
        return lines + _spool_lines(spool, engine)[0], False
    lines_ok = _ledger_lines(engine, revision)
    spool_lines, spool_ok = _spool_lines(spool, engine)
    return lines + lines_ok[0] + spool_lines, lines_ok[1] and spool_ok


def _ledger_lines(engine, revision: str | None) -> tuple[list[str], bool]:
    lines: list[str] = []
    ok = True
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
    return lines, ok


def _spool_lines(spool: Spool, engine) -> tuple[list[str], bool]:
    """Rows waiting in the spool, and rows set aside as rejected: both are calls not in the
    ledger yet."""
    lines = []
    waiting, rejected = spool.waiting(), spool.rejected()
    if waiting:
        lines.append(
            f"  spool      {waiting:,} rows waiting in {spool.path}: the app writes them when "
            "the database answers, or now: `llmledger spool replay`"
        )
    else:
        lines.append(f"  spool      empty ({spool.path})")
    if rejected:
        lines.append(
            f"  rejected   {rejected:,} rows set aside in {spool.rejects_path}, each with the "
            "reason; once fixed: `llmledger spool replay --rejected`"
        )
    # Before spools were named after their database, every server database shared this one.
    shared = Spool(Path.cwd() / "llmledger-spool.jsonl")
    if engine.dialect.name != "sqlite" and shared.path != spool.path and shared.waiting():
        lines.append(
            f"  spool      {shared.waiting():,} rows of an unknown database wait in "
            f"{shared.path}: `llmledger spool replay --spool {shared.path.name} --db URL` "
            "writes them to the database they belong to"
        )
        waiting += 1
    return lines, not (waiting or rejected)


def _at(ts_us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ts_us)
