"""`llmledger dashboard`: the dashboard on a local uvicorn server.

Loopback (127.0.0.1) by default. Bound to any other address, the dashboard shows a ledger of
who spent what to whoever can reach it: `--token` (or `$LLMLEDGER_DASHBOARD_TOKEN`) protects
it, and binding elsewhere without one prints a warning on stderr.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any

__all__ = ["add_parser", "is_loopback", "run"]

TOKEN_VARIABLE = "LLMLEDGER_DASHBOARD_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    from ..cli_args import DB_HELP

    parser = subparsers.add_parser(
        "dashboard",
        help="serve the dashboard (overview, models, tags, calls, quality) in a browser",
        description="Serves the ledger's dashboard over HTTP; it only reads. Loopback by "
        "default; bound elsewhere, protect it with --token (a bearer token, or the password "
        "of the browser's login prompt).",
    )
    parser.add_argument("--db", metavar="DATABASE", help=DB_HELP)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"require this token (default ${TOKEN_VARIABLE})",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..cli_args import database
    from ..report.commands import missing_ledger
    from . import DashboardUnavailable, app

    url = database(args)
    if problem := missing_ledger(args.command, url):
        print(f"llmledger {args.command}: {problem}", file=sys.stderr)
        return 1
    try:
        served = app(url)
        import uvicorn
    except (DashboardUnavailable, ImportError) as error:  # the dashboard extra is missing
        print(f"llmledger {args.command}: {error}", file=sys.stderr)
        return 2
    if args.token:
        from .auth import TokenAuth

        served = TokenAuth(served, args.token)
    elif not is_loopback(args.host):
        print(
            f"llmledger dashboard: WARNING: bound to {args.host} without --token: anyone who "
            "can reach this address sees the ledger",
            file=sys.stderr,
        )
    print(f"llmledger dashboard on http://{args.host}:{args.port}/", file=sys.stderr)
    uvicorn.run(served, host=args.host, port=args.port, log_level="warning")
    return 0
