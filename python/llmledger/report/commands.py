"""`llmledger demo` and `llmledger report`: what they do with their parsed arguments.

Both print: the report on stdout, problems as one line each on stderr. A report only reads,
so it never creates the SQLite file it is pointed at; the demo records into a file of its own
unless told otherwise, and never adds its synthetic calls to a ledger that holds calls unless
forced.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from sqlalchemy.engine import URL

from ..store.urls import hide_password, ledger_url, sqlite_file

__all__ = ["DEMO_FILE", "missing_ledger", "run_demo", "run_report"]

# Warnings meant for a program's developers, not for the user reading a report.
_FOR_DEVS = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning, ImportWarning)

DEMO_FILE = "llmledger-demo.db"
"""The demo's own ledger, in the working directory: re-created by each `llmledger demo`."""


def missing_ledger(command: str, url: URL) -> str | None:
    """Why a command that only reads has nothing to read: a SQLite file that does not exist.
    Checked before connecting, since opening a SQLite file creates it, and an empty file left
    behind would then pass for a database. Points at the demo's ledger when the default
    database is missing and the demo's is there."""
    from ..config import DEFAULT_DATABASE_URL

    path = sqlite_file(url)
    if path is None or path.exists():
        return None
    if url == ledger_url(DEFAULT_DATABASE_URL) and Path(DEMO_FILE).exists():
        return (
            f"no ledger at {path}; the demo's is {DEMO_FILE}: llmledger {command} --db {DEMO_FILE}"
        )
    return (
        f"no ledger at {path}: no such file (recording into it creates it, "
        f"as does `llmledger db upgrade --db {path}`)"
    )


def run_demo(args: argparse.Namespace) -> int:
    """Records `args.calls` synthetic calls, then prints the report on them."""
    import llmledger

    from .demo import generate

    own_file = args.db is None
    args.db = given = args.db or DEMO_FILE  # also the database a connection error names
    url = ledger_url(given)
    if own_file:
        for suffix in ("", "-wal", "-shm", "-journal"):  # the demo's own file: start empty
            Path(DEMO_FILE + suffix).unlink(missing_ok=True)
    elif not args.force and _holds_calls(url):
        print(
            f"llmledger demo: {hide_password(url)} already holds calls; the demo would add "
            f"{args.calls:,} synthetic ones to them. Leave out --db (the demo records into its "
            f"own {DEMO_FILE}), or add --force to add them anyway.",
            file=sys.stderr,
        )
        return 1
    llmledger.configure(url)
    generate(args.calls, seed=args.seed)
    llmledger.shutdown()  # every call written, the writer's connection closed
    print(f"recorded {args.calls:,} calls in {hide_password(url)}\n")
    args.since, args.until = None, None
    code = run_report(args, url)
    print(f"\nto report on it again: llmledger report --db {hide_password(given)}")
    return code


def _holds_calls(url: URL) -> bool:
    """Whether the database at `url` has a ledger with calls in it, without creating a file."""
    from sqlalchemy import select

    from ..store import make_engine
    from ..store.engine import current_revision
    from ..store.schema import calls

    path = sqlite_file(url)
    if path is not None and not path.exists():
        return False
    engine = make_engine(url)
    try:
        if current_revision(engine) is None:
            return False
        with engine.connect() as connection:
            return connection.execute(select(calls.c.id).limit(1)).first() is not None
    finally:
        engine.dispose()


def run_report(args: argparse.Namespace, url: URL) -> int:
    """Prints the report on the ledger at `url` for `args.since`, `until`, `by`, `top`."""
    from ..store import make_engine
    from ..store.engine import require_ledger
    from ..store.read import read_calls
    from .summary import summarize
    from .text import render

    if problem := missing_ledger(args.command, url):
        print(f"llmledger {args.command}: {problem}", file=sys.stderr)
        return 1
    engine = make_engine(url)
    try:
        require_ledger(engine)
        frame = read_calls(engine, since=args.since, until=args.until)
    finally:
        engine.dispose()
    by = [k.strip() for k in args.by.split(",") if k.strip()]
    # What rollup() warns of (a tag key no call in the window has: a typo?) is one line each.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = summarize(frame, by, top=args.top)
    for message in dict.fromkeys(
        " ".join(str(w.message).split()) for w in caught if not issubclass(w.category, _FOR_DEVS)
    ):
        print(f"llmledger {args.command}: {message}", file=sys.stderr)
    print(render(summary))
    return 0
