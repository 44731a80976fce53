"""What every page of the dashboard shares: the database, the budgets to show, the templates,
and the check that the database holds the ledger (`SetupRequired` until it does)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..store.engine import current_revision, head_revision
from .filters import Filters, parse
from .formatting import FILTERS
from .queries import known_tags

TAG_KEYS_SECONDS = 60.0
TAG_KEYS_KEPT = 64

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
    _tag_keys: dict[tuple[dt.date, dt.date], tuple[float, list[str]]] = field(
        init=False, default_factory=dict
    )

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

    def tag_keys(self, f: Filters) -> list[str]:
        """Every tag key of `f`'s range, sorted: a scan of the range's tags, so kept for
        `TAG_KEYS_SECONDS` (a key first used since then shows up that much later)."""
        window = (f.since, f.until)
        cached = self._tag_keys.get(window)
        if cached is not None and time.monotonic() - cached[0] < TAG_KEYS_SECONDS:
            return cached[1]
        keys = known_tags(self.engine, f)
        if len(self._tag_keys) >= TAG_KEYS_KEPT:
            self._tag_keys.clear()
        self._tag_keys[window] = (time.monotonic(), keys)
        return keys

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
