"""What every `llmledger` command reads the same way from its command line: the database,
a moment, a count."""

from __future__ import annotations

import argparse
import datetime as dt

from sqlalchemy.engine import URL

__all__ = ["DB_HELP", "count", "database", "when"]

DB_HELP = (
    "the ledger's database: a SQLite file path (ledger.db), sqlite:///PATH, "
    "postgresql://USER:PASSWORD@HOST/DB or mysql://USER:PASSWORD@HOST/DB "
    "(default: $LLMLEDGER_DATABASE_URL, else llmledger.db)"
)


def database(args: argparse.Namespace) -> URL:
    from .config import resolve_database_url
    from .store.urls import ledger_url

    return ledger_url(resolve_database_url(args.db))


def when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def count(text: str) -> int:
    """A count on the command line (--calls, --top): a negative --top would cut rows off."""
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return int(text)
