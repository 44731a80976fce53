"""The `llmledger prune` subcommand: asks before deleting, unless --yes or --dry-run."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

__all__ = ["add_parser", "run"]

DESCRIPTION = """\
Deletes the ledger's calls older than the cutoff (rounded down to a UTC midnight), in
batches of one short transaction each, with a progress bar; a prune interrupted is
finished by running it again. What each record keeps:
  ledger            the calls before the cutoff are deleted, with their backfilled prices
  daily rollup      keeps every pruned day's sums; calls arriving late into a pruned day
                    are added to them by `llmledger reaggregate`
  budget totals     keep every period's spend as it was; the current day, week and month
                    of the budgets' time zone are never pruned (such a cutoff is refused)
  archive           keeps every call: prune deletes from the SQL ledger only
Refused, deleting nothing, while calls before the cutoff are not rolled up yet, or not in
the archive yet when the database has one (run `llmledger reaggregate` first)."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the `prune` subcommand to the `llmledger` command's subparsers."""
    parser = subparsers.add_parser(
        "prune",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="delete old calls from the ledger, keeping their sums",
        description=DESCRIPTION,
        epilog="examples:\n"
        "  llmledger prune --older-than 180d --dry-run\n"
        "  llmledger prune --older-than 26w --yes --db postgresql://me@db/app\n"
        "  llmledger prune --before 2026-06-01",
    )
    cutoff = parser.add_mutually_exclusive_group(required=True)
    cutoff.add_argument("--older-than", metavar="AGE", help="an age: 180d (days) or 26w (weeks)")
    cutoff.add_argument("--before", type=_date, metavar="DATE", help="calls before this UTC date")
    parser.add_argument("--db", metavar="DATABASE", help="database URL (see llmledger --help)")
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would go; delete nothing"
    )
    parser.add_argument("--yes", action="store_true", help="delete without asking")
    parser.add_argument(
        "--archive",
        help="URI of the ledger's archive, as `llmledger reaggregate --archive` (default: "
        "LLMLEDGER_ARCHIVE_URI, else <database file>.archive beside a SQLite file)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs `llmledger prune`: 0 when done (or declined), 1 when refused, 2 for a bad age,
    3 while the nightly job or another prune runs."""
    from ..config import resolve_database_url
    from ..reaggregate import AlreadyRunning
    from ..report.commands import missing_ledger
    from ..store.urls import ledger_url
    from . import PruneRefused, prune

    url = ledger_url(resolve_database_url(args.db))
    if problem := missing_ledger("prune", url):  # never create a SQLite file to prune it
        print(f"llmledger prune: {problem}", file=sys.stderr)
        return 1
    cutoff = {"older_than": args.older_than, "before": args.before, "archive": args.archive}
    try:
        if not args.yes or args.dry_run:
            plan = prune(url, **cutoff, dry_run=True)
            print(plan)
            if args.dry_run or not plan.calls:
                return 0
            if not sys.stdin.isatty():
                print("llmledger prune: pass --yes to delete without asking", file=sys.stderr)
                return 2
            if input(f"Delete these {plan.calls:,} calls? [y/N] ").strip().lower() != "y":
                return 0
        print(prune(url, **cutoff))
    except ValueError as error:  # --older-than that is not an age
        print(f"llmledger prune: {error}", file=sys.stderr)
        return 2
    except PruneRefused as error:
        print(f"llmledger prune: {error}", file=sys.stderr)
        return 1
    except AlreadyRunning as error:
        print(f"llmledger prune: {error}; try again when it has finished", file=sys.stderr)
        return 3
    return 0
