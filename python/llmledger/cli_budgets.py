"""`llmledger budgets`: where each of an app's budgets stands, read from the spend totals.

The budgets are the app's own list, the one it passes to `configure(budgets=...)`, named as
``module:attribute`` (--budgets, else $LLMLEDGER_BUDGETS) and imported from the working
directory or the installed packages: the command never guesses them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["BudgetsSourceError", "add_parser", "load_budgets"]

DESCRIPTION = """\
Each budget's spend in its current period (calendar day, ISO week from Monday, month, in
--tz), its limit, the share spent and a projection to the period's end (linear: the spend
so far, scaled by the whole period over the time elapsed). A budget per tag (per="tenant")
lists its scopes, highest spend first, --top of them. "call" budgets have no period total:
each call is checked when it is recorded, so they are listed with their limit only.

Calls no price covers are unpriced: their cost is unknown, not zero, and budgets count
them as their `unpriced` policy says ("ignore": $0; "block": also refuse requests to a
model no price covers). They get a column of their own.

Reads only the spend totals an app's writer keeps for its budgets (one small read, never
the ledger), so the budgets given must be those the app configures, with its budget_tz.
Calls an app has accepted and not yet written are not in them.
"""

EPILOG = """\
examples:
  llmledger budgets --db ledger.db --budgets myapp.settings:BUDGETS
  LLMLEDGER_BUDGETS=myapp.settings:BUDGETS llmledger budgets --tz Europe/Berlin --top 20
  llmledger budgets --budgets myapp.settings:BUDGETS --json --at 2026-11-30T23:59:59+00:00
"""


class BudgetsSourceError(ValueError):
    """--budgets (or $LLMLEDGER_BUDGETS) names no list of `llmledger.Budget`."""


def load_budgets(source: str) -> list:
    """The list of `llmledger.Budget` that ``module:attribute`` names (the attribute may be
    dotted, ``settings:LLM.BUDGETS``); `BudgetsSourceError` saying what is wrong."""
    from .budgets import Budget

    module_name, _, attribute = source.partition(":")
    if not module_name or not attribute:
        raise BudgetsSourceError(
            f"{source!r} is not module:attribute (e.g. myapp.settings:BUDGETS)"
        )
    if os.getcwd() not in sys.path:  # the app's own modules, as `python -m` would find them
        sys.path.insert(0, os.getcwd())
    try:
        value = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        # The module (or a package above it) does not exist. A module that exists and fails
        # to import raises on, with its traceback: a bug in it is the app's to see.
        if error.name is None or not (module_name + ".").startswith(error.name + "."):
            raise
        raise BudgetsSourceError(
            f"no module named {module_name!r} (looked in the working directory and the "
            "installed packages)"
        ) from None
    for name in attribute.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise BudgetsSourceError(f"{source}: {name!r} not found in {module_name}") from None
    if not isinstance(value, list | tuple) or not all(isinstance(b, Budget) for b in value):
        kind = type(value).__name__
        raise BudgetsSourceError(
            f"{source} is a {kind}, not a list of llmledger.Budget (the list given to "
            "configure(budgets=...))"
        )
    return list(value)


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"not an IANA time zone: {text!r}") from None
    return text


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``budgets`` to the command line."""
    from .cli_args import DB_HELP, count, when  # the command line's one reading of each

    budgets = sub.add_parser(
        "budgets",
        help="each budget's spend, limit, share and projection for its current period",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    budgets.add_argument("--db", metavar="DATABASE", help=DB_HELP)
    budgets.add_argument(
        "--budgets",
        metavar="MODULE:ATTRIBUTE",
        help="the app's list of llmledger.Budget, e.g. myapp.settings:BUDGETS, imported from "
        "the working directory or the installed packages (default: $LLMLEDGER_BUDGETS)",
    )
    budgets.add_argument(
        "--tz",
        type=_zone,
        default="UTC",
        metavar="ZONE",
        help="the app's budget_tz, the zone of the calendar periods (default UTC)",
    )
    budgets.add_argument(
        "--top",
        type=count,
        default=10,
        metavar="N",
        help="scopes shown per budget kept per tag, highest spend first (default 10; "
        "--json lists all)",
    )
    budgets.add_argument(
        "--at",
        type=when,
        metavar="WHEN",
        help="the periods containing this ISO date/time (UTC unless given), default now",
    )
    budgets.add_argument("--json", action="store_true", help="print JSON instead of a table")
    budgets.set_defaults(func=cmd_budgets)


def cmd_budgets(args: argparse.Namespace) -> int:
    from .budgets.status import TotalsNotKept, budget_status
    from .config import resolve_database_url
    from .report.budgets import as_json, render
    from .report.commands import missing_ledger
    from .store import make_engine
    from .store.engine import require_ledger
    from .store.urls import ledger_url

    source = args.budgets or os.environ.get("LLMLEDGER_BUDGETS")
    if not source:
        print(
            "llmledger budgets: which budgets? Name the list the app configures: "
            "--budgets module:attribute, or LLMLEDGER_BUDGETS=module:attribute",
            file=sys.stderr,
        )
        return 2
    try:
        budgets = load_budgets(source)
    except BudgetsSourceError as error:
        print(f"llmledger budgets: {error}", file=sys.stderr)
        return 2
    url = ledger_url(resolve_database_url(args.db))
    if problem := missing_ledger(args.command, url):
        print(f"llmledger {args.command}: {problem}", file=sys.stderr)
        return 1
    at = args.at or dt.datetime.now(dt.UTC)
    engine = make_engine(url)
    try:
        require_ledger(engine)
        statuses = budget_status(engine, budgets, tz=args.tz, at=at)
    except TotalsNotKept as error:
        print(f"llmledger budgets: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.json:
        print(as_json(budgets, statuses, args.tz, at))
    else:
        print(render(budgets, statuses, args.tz, at, top=args.top))
    return 0
