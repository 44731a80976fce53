"""The `llmledger` command: demo, report, prices explain, reaggregate, prune, db upgrade,
doctor, spool, budgets, dashboard."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING

from .cli_args import DB_HELP, count, database, when
from .report.commands import DEMO_FILE
from .store.schema import BUCKETS

if TYPE_CHECKING:
    from sqlalchemy.exc import OperationalError

    from .pricing import Pricer

__all__ = ["main"]


def cmd_demo(args: argparse.Namespace) -> int:
    from .report.commands import run_demo

    return run_demo(args)


def cmd_report(args: argparse.Namespace) -> int:
    from .report.commands import run_report

    return run_report(args, database(args))


def cmd_explain(args: argparse.Namespace) -> int:
    from .pricing import build_pricer
    from .pricing.explain import explain

    pricer = build_pricer(args.overrides)
    if problem := _unknown_name(pricer, args.provider, args.mode):
        print(f"llmledger prices: {problem}", file=sys.stderr)
        return 2
    buckets = {b: getattr(args, b) for b in BUCKETS}
    text, priced = explain(pricer, args.provider, args.model, args.at, args.mode, buckets)
    print(text)
    return 0 if priced else 1


def _unknown_name(pricer: Pricer, provider: str, mode: str) -> str | None:
    """A provider or pricing mode the catalog and overrides do not know (a typo, likely):
    named with its nearest known name, rather than explained away as unpriced or standard."""
    overridden = {pricer.spec["models"][i]["provider"] for i in pricer.spec["overrides"]["models"]}
    if not ({"*", provider.lower()} & overridden or pricer.canonical_provider(provider)):
        known = [p["id"] for p in pricer.spec["providers"]] + sorted(overridden)
        return (
            f"unknown provider {provider!r}{_did_you_mean(provider.lower(), known)} "
            f"({pricer.source} has {len(known)} providers; --overrides can price any other)"
        )
    if mode not in pricer.modes:
        return (
            f"unknown pricing mode {mode!r}{_did_you_mean(mode, pricer.modes)} "
            f"(the catalog's modes: {', '.join(pricer.modes)})"
        )
    return None


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f": did you mean {close[0]}?" if close else ""


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose
    from .report.commands import missing_ledger

    url = database(args)
    if problem := missing_ledger(args.command, url):
        print(f"llmledger {args.command}: {problem}", file=sys.stderr)
        return 1
    lines, ok = diagnose(url, spool_path=args.spool)
    print("llmledger doctor\n" + "\n".join(lines))
    return 0 if ok else 1


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .store import make_engine, upgrade

    engine = make_engine(database(args))
    upgrade(engine)
    print(f"schema up to date: {engine.url.render_as_string(hide_password=True)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    text = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines as written
    parser = argparse.ArgumentParser(
        prog="llmledger",
        formatter_class=text,
        description="A ledger of what your app's LLM calls cost, in your own database.",
        epilog="Start with `llmledger demo`, then `llmledger report --db llmledger-demo.db`.\n"
        "Database of every command: --db, else $LLMLEDGER_DATABASE_URL, else llmledger.db.\n"
        "  --db ledger.db                      a SQLite file (sqlite:///ledger.db)\n"
        "  --db postgresql://user@host/db      PostgreSQL through psycopg (or postgres://)\n"
        "  --db mysql://user@host/db           MySQL/MariaDB through PyMySQL\n"
        "Run `llmledger COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"llmledger {version('llmledger')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        formatter_class=text,
        help="record a synthetic quarter of calls, then report on it",
        description="Records a realistic synthetic quarter of calls through the same track()\n"
        "path apps use, then prints the report. By default into its own SQLite file,\n"
        f"{DEMO_FILE}, re-created each time. With --db it records into that database\n"
        "instead, and refuses one that already holds calls unless --force is given.",
        epilog="examples:\n"
        "  llmledger demo\n"
        "  llmledger report --db llmledger-demo.db --by feature,tenant\n"
        "  llmledger demo --calls 100000 --db postgresql://me@localhost/scratch",
    )
    demo.add_argument(
        "--calls", type=count, default=40_000, metavar="N", help="number of calls (default 40,000)"
    )
    demo.add_argument("--seed", type=int, default=7, metavar="N", help="random seed (default 7)")
    demo.add_argument(
        "--db",
        metavar="DATABASE",
        help=f"record into this database instead of {DEMO_FILE} (see llmledger --help)",
    )
    demo.add_argument(
        "--force",
        action="store_true",
        help="with --db: add the demo's calls even where the database already holds calls",
    )
    demo.add_argument(
        "--by",
        metavar="KEYS",
        default="feature,tenant,user_id",
        help="tag keys to break spend down by (default feature,tenant,user_id)",
    )
    demo.add_argument(
        "--top", type=count, default=8, metavar="N", help="rows per table (default 8)"
    )
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser(
        "report",
        formatter_class=text,
        help="spend, calls, tokens, unpriced share, top models and tags",
        description="Total spend, calls and tokens, the unpriced share (calls no price covers:\n"
        "cost unknown, not zero), top models, spend by week, and the top values of each\n"
        "tag key in --by. Only reads the ledger.",
        epilog="examples:\n"
        "  llmledger report --db ledger.db\n"
        "  llmledger report --since 2026-11-01 --until 2026-12-01 --by feature,tenant,user_id\n"
        "  LLMLEDGER_DATABASE_URL=postgresql://me@db/app llmledger report --top 20",
    )
    report.add_argument(
        "--since",
        type=when,
        metavar="WHEN",
        help="from this ISO date/time (UTC unless given), inclusive",
    )
    report.add_argument(
        "--until", type=when, metavar="WHEN", help="to this ISO date/time, exclusive"
    )
    report.add_argument(
        "--by",
        default="feature,tenant",
        metavar="KEYS",
        help="comma-separated tag keys (default feature,tenant)",
    )
    report.add_argument(
        "--top", type=count, default=10, metavar="N", help="rows per table (default 10)"
    )
    report.add_argument("--db", metavar="DATABASE", help=DB_HELP)
    report.set_defaults(func=cmd_report)

    prices = sub.add_parser("prices", help="inspect the price catalog")
    prices_sub = prices.add_subparsers(dest="prices_command", required=True, metavar="COMMAND")
    explain = prices_sub.add_parser(
        "explain",
        formatter_class=text,
        help="which price rule applies to a model, its rates, and the cost of given usage",
        description="Shows the catalog entry or override that prices PROVIDER MODEL at --at in\n"
        "--mode, the rates in force, and the exact cost of the given token counts.\n"
        "Exits 1 when the model cannot be priced, 2 for a provider or mode the catalog\n"
        "(and --overrides) does not know.",
        epilog="examples:\n"
        "  llmledger prices explain openai gpt-4o --input-tokens 1000 --output-tokens 500\n"
        "  llmledger prices explain openai gpt-4o-mini --mode batch --at 2026-11-02\n"
        "  llmledger prices explain acme my-finetune --overrides prices.toml",
    )
    explain.add_argument(
        "provider", help="provider id: openai, anthropic, google (or gemini), deepseek..."
    )
    explain.add_argument(
        "model", help="model name as the provider reports it, e.g. gpt-4o-2024-08-06"
    )
    explain.add_argument(
        "--at",
        type=when,
        metavar="WHEN",
        help="time of the call (default now), ISO, UTC unless given",
    )
    explain.add_argument(
        "--mode",
        metavar="MODE",
        default="standard",
        help="pricing mode (default standard): batch, flex, priority... as in the catalog",
    )
    explain.add_argument("--overrides", metavar="FILE", help="price overrides file (JSON or TOML)")
    for bucket in BUCKETS:
        explain.add_argument(
            f"--{bucket.replace('_', '-')}",
            dest=bucket,
            type=int,
            default=0,
            metavar="N",
            help=f"{bucket.removesuffix('_tokens').replace('_', ' ')} tokens to price",
        )
    explain.set_defaults(func=cmd_explain)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_sub.add_parser(
        "upgrade",
        help="create or migrate the ledger's tables",
        description="Runs the ledger's migrations (needed once on PostgreSQL and "
        "MySQL; SQLite files are created automatically). Touches only the ledger's own tables.",
    )
    upgrade.add_argument("--db", metavar="DATABASE", help=DB_HELP)
    upgrade.set_defaults(func=cmd_db_upgrade)

    doctor = sub.add_parser(
        "doctor",
        help="check the database, schema, price catalog and spool",
        description="Checks that the database is reachable and migrated, shows the price "
        "catalog in use and the ledger's size, how many rows wait in the spool and how many "
        "were set aside as rejected. Exits 1 on a problem. Only reads.",
    )
    doctor.add_argument("--db", metavar="DATABASE", help=DB_HELP)
    doctor.add_argument(
        "--spool", metavar="PATH", help="spool file, if the app sets one (configure(spool_path))"
    )
    doctor.set_defaults(func=cmd_doctor)

    from .cli_budgets import add_parser as add_budgets
    from .cli_spool import add_parser as add_spool
    from .dashboard.serve import add_parser as add_dashboard
    from .prune.command import add_parser as add_prune
    from .reaggregate import add_parser as add_reaggregate

    add_dashboard(sub)
    add_reaggregate(sub)
    add_prune(sub)
    add_spool(sub)
    add_budgets(sub)
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
        from .store.urls import UnusableDatabaseURL

        if isinstance(error, UnusableDatabaseURL):
            # --db or LLMLEDGER_DATABASE_URL names nothing llmledger can open (password hidden).
            print(f"llmledger {args.command}: {error}", file=sys.stderr)
            return 2
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
    url = database(args).render_as_string(hide_password=True)
    reason = " ".join(str(error.orig).split())
    return f"database {url}: {reason} (`llmledger doctor` checks the connection and schema)"


if __name__ == "__main__":
    sys.exit(main())
