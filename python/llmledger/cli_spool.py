"""`llmledger spool`: the rows waiting for the database, and the rows set aside."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser"]

DESCRIPTION = """\
While the database is unavailable (down, unreachable, locked), recorded calls wait in a
local spool file and the app writes them, each once, when the database answers again.
Rows the database refused for their content (a value it cannot store) are set aside in the
spool's .rejected.jsonl file, each with the reason. `llmledger doctor` counts both.

The spool sits beside a SQLite file (llmledger-spool-<file>.jsonl), or for a server database
in the app's working directory, named after the database
(llmledger-spool-<backend>-<host>-<database>-<hash>.jsonl); configure(spool_path=...) sets
another. Rows are keyed by event_id: sending one again never stores it twice.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``spool`` and its ``replay`` command to the command line."""
    spool = sub.add_parser(
        "spool",
        help="replay waiting rows, or re-submit rejected ones",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    spool_sub = spool.add_subparsers(dest="spool_command", required=True, metavar="COMMAND")
    replay = spool_sub.add_parser(
        "replay",
        help="write the spool's waiting rows now (or, with --rejected, the rejected ones)",
        description="Writes the rows waiting in the spool into the database now, instead of "
        "waiting for the app to. With --rejected, sends the rows set aside in the rejected "
        "file again, after whatever made the database refuse them is fixed (a wider column, "
        "a row corrected by hand): rows refused again stay in the rejected file with the new "
        "reason. Prints a summary; exits 1 when rows remain.",
    )
    replay.add_argument(
        "--rejected", action="store_true", help="re-submit the rejected rows instead"
    )
    replay.add_argument(
        "--db",
        metavar="DATABASE",
        help="the ledger's database, as for every command "
        "(default: $LLMLEDGER_DATABASE_URL, else llmledger.db)",
    )
    replay.add_argument(
        "--spool", metavar="PATH", help="spool file (default: the database's default spool)"
    )
    replay.set_defaults(func=cmd_spool_replay)


def cmd_spool_replay(args: argparse.Namespace) -> int:
    from .config import resolve_database_url
    from .store import ensure_schema, make_engine
    from .store.resubmit import resubmit_rejected
    from .store.spool import Spool, default_spool_path
    from .store.totals_sql import stored_spec
    from .store.writer import Writer

    engine = make_engine(resolve_database_url(args.db))
    ensure_schema(engine)  # the tables must be there; raises SchemaNotReadyError naming the fix
    spool = Spool(Path(args.spool) if args.spool else default_spool_path(engine))
    where = engine.url.render_as_string(hide_password=True)
    with engine.connect() as connection:  # replayed rows count in the totals the app keeps
        totals = stored_spec(connection)
    if args.rejected:
        summary = resubmit_rejected(engine, spool, totals=totals)
        print(f"re-submitted the rejected rows of {spool.rejects_path} to {where}: {summary}")
        return 0 if summary.complete else 1
    writer = Writer(engine, spool_path=spool.path, retry_interval=3600, totals=totals)
    writer.flush()  # a flush replays the spool
    writer.close()
    stats = writer.stats()
    waiting = spool.waiting()
    print(
        f"replayed {spool.path} into {where}: {stats['replayed']:,} rows written, "
        f"{stats['rejected']:,} set aside in {spool.rejects_path}, {waiting:,} still waiting"
    )
    return 0 if not waiting else 1
