"""What every page of the dashboard shares: the database, the budgets to show, the templates,
and the check that the database holds the ledger (`SetupRequired` until it does)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..store.engine import current_revision, head_revision
from .filters import Filters, parse
from .formatting import FILTERS

__all__ = ["NAV", "Dashboard", "SetupRequired"]

NAV = (
    ("/", "Overview"),
    ("/models", "Models"),
    ("/tags", "Tags"),
    ("/calls", "Calls"),
    ("/quality", "Quality"),
)


class SetupRequired(Exception):
    """The database has no ledger tables at this package's revision."""


@dataclass
class Dashboard:
    """What every page reads: the engine, the budgets to show, the templates."""

    engine: Engine
    budgets: list[Any] | None
    budget_tz: str
    env: Environment = field(init=False)
    ready: bool = False

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("llmledger.dashboard", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(FILTERS)

    def check_ready(self) -> None:
        """`SetupRequired` until the database's ledger is at this package's revision."""
        if self.ready:
            return
        current = current_revision(self.engine)
        if current != head_revision():
            raise SetupRequired(current)
        self.ready = True

    def filters(self, request: Request) -> Filters:
        params = {k: request.query_params.getlist(k) for k in request.query_params}
        return parse(params, dt.datetime.now(dt.UTC).date())

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        html = self.env.get_template(template).render(
            base=base, nav=NAV, path=request.url.path.removeprefix(base) or "/", **context
        )
        return HTMLResponse(html, status_code=status)
