"""The `llmledger` command: demo, report, prices explain, reaggregate, db upgrade, doctor,
spool."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .store.schema import BUCKETS

if TYPE_CHECKING:
    from sqlalchemy.exc import OperationalError

__all__ = ["main"]

DEMO_DATABASE = "sqlite:///llmledger-demo.db"


def _database(args: argparse.Namespace) -> str:
    from .config import resolve_database_url

    return resolve_database_url(args.db)


def _when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _count(text: str) -> int:
    """A count on the command line (--calls, --top): a negative --top would cut rows off."""
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return int(text)


def cmd_demo(args: argparse.Namespace) -> int:
    import llmledger

    from .report import demo

    url = args.db or DEMO_DATABASE
    if args.db is None and os.path.exists("llmledger-demo.db"):
        os.remove("llmledger-demo.db")  # the demo's own file: start from an empty ledger
    llmledger.configure(url)
    demo.generate(args.calls, seed=args.seed)
    llmledger.flush()
    print(f"recorded {args.calls:,} calls in {url}\n")
    args.db, args.since, args.until = url, None, None
    return cmd_report(args)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import render, summarize
    from .store import make_engine
    from .store.engine import require_ledger
    from .store.read import read_calls

    engine = make_engine(_database(args))
    require_ledger(engine)
    frame = read_calls(engine, since=args.since, until=args.until)
    by = [k.strip() for k in args.by.split(",") if k.strip()]
    print(render(summarize(frame, by, top=args.top)))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .pricing import build_pricer
    from .pricing.explain import explain

    pricer = build_pricer(args.overrides)
    buckets = {b: getattr(args, b) for b in BUCKETS}
    text, priced = explain(pricer, args.provider, args.model, args.at, args.mode, buckets)
    print(text)
    return 0 if priced else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose

    lines, ok = diagnose(_database(args), spool_path=args.spool)
    print("llmledger doctor\n" + "\n".join(lines))
    return 0 if ok else 1


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .store import make_engine, upgrade

    engine = make_engine(_database(args))
    upgrade(engine)
    print(f"schema up to date: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmledger",
        description="A ledger of what your app's LLM calls cost, in your own database.",
        epilog="Database: --db URL, else LLMLEDGER_DATABASE_URL, else sqlite:///llmledger.db.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="record a synthetic quarter of calls, then report on it",
        description="Fills a SQLite ledger (llmledger-demo.db, recreated) with a realistic "
        "synthetic quarter through the same track() path apps use, then prints the report.",
    )
    demo.add_argument(
        "--calls", type=_count, default=40_000, help="number of calls (default 40,000)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--db", help="record into this database instead of llmledger-demo.db")
    demo.add_argument(
        "--by", default="feature,tenant,user_id", help="tag keys to break spend down by"
    )
    demo.add_argument("--top", type=_count, default=8, help="rows per table (default 8)")
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser(
        "report",
        help="spend, calls, tokens, unpriced share, top models and tags",
        description="Total spend, calls and tokens, the unpriced share, top models, "
        "and the top values of each tag key in --by.",
    )
    report.add_argument(
        "--since", type=_when, help="from this ISO date/time (UTC unless given), inclusive"
    )
    report.add_argument("--until", type=_when, help="to this ISO date/time, exclusive")
    report.add_argument(
        "--by", default="feature,tenant", help="comma-separated tag keys (default feature,tenant)"
    )
    report.add_argument("--top", type=_count, default=10, help="rows per table (default 10)")
    report.add_argument("--db", help="database URL")
    report.set_defaults(func=cmd_report)

    prices = sub.add_parser("prices", help="inspect the price catalog")
    prices_sub = prices.add_subparsers(dest="prices_command", required=True, metavar="COMMAND")
    explain = prices_sub.add_parser(
        "explain",
        help="which price rule applies to a model, its rates, and the cost of given usage",
        description="Shows the catalog entry or override that prices PROVIDER MODEL "
        "at --at in --mode, "
        "the rates in force, and the exact cost of the given token counts. Exits 1 when the model "
        "cannot be priced.",
    )
    explain.add_argument(
        "provider", help="provider id: openai, anthropic, google (or gemini), deepseek..."
    )
    explain.add_argument(
        "model", help="model name as the provider reports it, e.g. gpt-4o-2024-08-06"
    )
    explain.add_argument(
        "--at", type=_when, help="time of the call (default now), ISO, UTC unless given"
    )
    explain.add_argument(
        "--mode", default="standard", help="pricing mode: standard, batch, flex, priority..."
    )
    explain.add_argument("--overrides", help="price overrides file (JSON or TOML)")
    for bucket in BUCKETS:
        explain.add_argument(
            f"--{bucket.replace('_', '-')}", dest=bucket, type=int, default=0, metavar="N"
        )
    explain.set_defaults(func=cmd_explain)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_sub.add_parser(
        "upgrade",
        help="create or migrate the ledger's tables",
        description="Runs the ledger's migrations (needed once on PostgreSQL and "
        "MySQL; SQLite files are created automatically).",
    )
    upgrade.add_argument("--db", help="database URL")
    upgrade.set_defaults(func=cmd_db_upgrade)

    doctor = sub.add_parser(
        "doctor",
        help="check the database, schema, price catalog and spool",
        description="Checks that the database is reachable and migrated, shows the price "
        "catalog in use and the ledger's size, how many rows wait in the spool and how many "
        "were set aside as rejected. Exits 1 on a problem.",
    )
    doctor.add_argument("--db", help="database URL")
    doctor.add_argument("--spool", help="spool file, if the app sets one (configure(spool_path))")
    doctor.set_defaults(func=cmd_doctor)

    from .cli_spool import add_parser as add_spool
    from .reaggregate import add_parser as add_reaggregate

    add_reaggregate(sub)
    add_spool(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `llmledger` command."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `llmledger report | head`
        sys.stderr.close()
        return 0
    except Exception as error:
        from sqlalchemy.exc import OperationalError

        from .pricing.overrides import OverridesError
        from .store import SchemaNotReadyError

        if isinstance(error, OverridesError):
            # A bad --overrides file: its message names the file and the entry at fault.
            print(f"llmledger {args.command}: {error}", file=sys.stderr)
            return 2
        if isinstance(error, SchemaNotReadyError):
            # No ledger tables, or older ones: the message names the URL and the fix.
            print(f"llmledger {args.command}: {error}", file=sys.stderr)
            return 1
        if not isinstance(error, OperationalError):
            raise
        # The database cannot be opened or used (down, a wrong host, path or password):
        # a line saying so, not a traceback.
        print(f"llmledger {args.command}: {_database_problem(args, error)}", file=sys.stderr)
        return 1


def _database_problem(args: argparse.Namespace, error: OperationalError) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(_database(args)).render_as_string(hide_password=True)
    reason = " ".join(str(error.orig).split())
    return f"database {url}: {reason} (`llmledger doctor` checks the connection and schema)"


if __name__ == "__main__":
    sys.exit(main())
