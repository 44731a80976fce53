"""The dashboard: who spent what, as pages a browser shows, read-only.

    app.mount("/llm-costs", llmledger.dashboard.app(engine))   # behind the host app's auth

or `llmledger dashboard --db URL` (a local server, loopback by default). Starlette, Jinja2
and uvicorn are the `dashboard` extra (`pip install 'llmledger[dashboard]'`); importing
`llmledger` never imports them, only calling `app()` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["DashboardUnavailable", "app"]

INSTALL = "pip install 'llmledger[dashboard]'"


class DashboardUnavailable(ImportError):
    """The dashboard's dependencies (the `dashboard` extra) are not installed."""


def app(
    engine_or_url: Engine | URL | str,
    *,
    budgets: Sequence[Any] | None = None,
    budget_tz: str = "UTC",
) -> Starlette:
    """The dashboard as an ASGI (Starlette) app over the ledger at `engine_or_url` (an Engine,
    used as it is, or a database URL as `llmledger.configure` takes).

    Pages: `/` overview, `/models`, `/tags`, `/tags/{key}`, `/tags/{key}/{value}`, `/calls`,
    `/calls/{event_id}`, `/calls.csv`, `/quality`; filters are query parameters (`from`, `to`
    as YYYY-MM-DD, both included; `provider`, `model`, repeated `tag=key:value`). It only
    reads; it never creates or migrates tables (a database without them gets a "setup
    required" page). With `budgets` (`llmledger.Budget`s), the overview shows their status,
    periods in `budget_tz`. It has no authentication of its own: mount it behind yours.
    """
    try:
        from .web import build
    except ImportError as error:  # the dashboard extra is missing: name the fix
        raise DashboardUnavailable(
            f"the dashboard needs Starlette, Jinja2 and uvicorn ({error}): {INSTALL}"
        ) from error
    from ..store import make_engine

    engine = make_engine(engine_or_url)
    # An engine made here from a URL is the app's: its connections close when the app stops.
    owned = engine if engine is not engine_or_url else None
    return build(engine, list(budgets) if budgets else None, budget_tz, owned)
