"""`llmledger reaggregate`: the nightly job that maintains the daily rollup tables.

    summary = llmledger.reaggregate(engine)            # incremental
    summary = llmledger.reaggregate(engine, rebuild=True)
    print(summary)                                     # one line

Incremental (a watermark on the ledger's id, so late-arriving rows count), idempotent and
safe to kill midway; prices calls that were recorded unpriced once a price exists, keeping
those costs apart from the recorded ones (see `job` and `tables`); then copies the calls of
closed days into the archive, a Delta Lake table (`llmledger.archive`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from ..archive import archive_closed_days, archive_location
from ..pricing import Pricer
from .job import DEFAULT_TAG_KEYS, Summary, run_job
from .lock import AlreadyRunning, one_run_at_a_time

__all__ = ["DEFAULT_TAG_KEYS", "AlreadyRunning", "Summary", "add_parser", "reaggregate", "run"]


def reaggregate(
    engine: Engine | URL | str,
    rebuild: bool = False,
    *,
    tag_keys: Sequence[str] | None = None,
    pricer: Pricer | None = None,
    progress: TextIO | None = None,
    archive: str | bool = True,
) -> Summary:
    """Bring the daily rollup up to date with the ledger and return what was done.

    `rebuild` recomputes every day from scratch. `tag_keys` are the tags the rollup groups
    by: the ones of the previous run by default (`feature`, `tenant` on a first run); other
    keys need `rebuild`. `pricer` prices calls recorded unpriced (default: the configured
    catalog and overrides). The progress bar goes to `progress` (default stderr). One run
    at a time per database: `AlreadyRunning` if another holds it.

    `archive`: the archive's URI, or True for its default location (`LLMLEDGER_ARCHIVE_URI`,
    else beside a SQLite file; a server database without it keeps none), or False for none.
    """
    from ..config import current_pricer
    from ..store import ensure_schema, make_engine

    owned = make_engine(engine)
    try:
        ensure_schema(owned)
        with one_run_at_a_time(owned):
            summary = run_job(
                owned,
                pricer or current_pricer(),
                rebuild=rebuild,
                tag_keys=tuple(tag_keys) if tag_keys else None,
                progress=progress,
            )
            if archive is False:
                return replace(summary, archive="no archive (not asked for)")
            uri = archive_location(owned, archive if isinstance(archive, str) else None)
            if uri is None:
                return replace(
                    summary,
                    archive="no archive (a server database keeps one only where "
                    "LLMLEDGER_ARCHIVE_URI or --archive says)",
                )
            run = archive_closed_days(owned, uri, summary.watermark, rebuild=rebuild)
            return replace(summary, archive=run)
    finally:
        if owned is not engine:  # made here from a URL: close its pooled connections
            owned.dispose()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the `reaggregate` subcommand to the `llmledger` command's subparsers."""
    parser = subparsers.add_parser(
        "reaggregate",
        help="update the daily rollup tables (nightly job)",
        description="Rolls up the calls recorded since the last run into "
        "llmledger_daily_rollup (days of late-arriving calls included), prices calls that "
        "were recorded unpriced if a price exists now (kept apart in llmledger_backfill), "
        "and prints a one-line summary. Safe to rerun or interrupt.",
    )
    parser.add_argument("--db", help="database URL")
    parser.add_argument("--rebuild", action="store_true", help="recompute every day from scratch")
    parser.add_argument(
        "--tags",
        help="comma-separated tag keys to group by (default: as last run, else feature,tenant;"
        " changing them needs --rebuild)",
    )
    parser.add_argument(
        "--archive",
        help="URI of the Delta Lake archive of closed days (a path, s3://, gs://, az://...; "
        "default: LLMLEDGER_ARCHIVE_URI, else <database file>.archive beside a SQLite file)",
    )
    parser.add_argument("--overrides", help="price overrides file (JSON or TOML) for the backfill")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs the `reaggregate` subcommand; the database comes from --db, else
    LLMLEDGER_DATABASE_URL, else the default SQLite file."""
    import sys

    from ..config import resolve_database_url
    from ..pricing import build_pricer

    url = resolve_database_url(args.db)
    tags = [t.strip() for t in args.tags.split(",") if t.strip()] if args.tags else None
    if tags and len(set(tags)) < len(tags):
        print(f"llmledger reaggregate: --tags names a key twice: {args.tags}", file=sys.stderr)
        return 2
    try:
        summary = reaggregate(
            url,
            args.rebuild,
            tag_keys=tags,
            pricer=build_pricer(args.overrides),
            archive=args.archive or True,
        )
    except ValueError as error:  # changed tag keys without --rebuild
        print(f"llmledger reaggregate: {error}", file=sys.stderr)
        return 2
    except AlreadyRunning as error:
        print(f"llmledger reaggregate: {error}; try again when it has finished", file=sys.stderr)
        return 3
    print(summary)
    return 0
