"""The dashboard's ASGI app: routes, templates, and the pages for what goes wrong.

Every page is a GET that reads through the library's read API; nothing here writes, and no
route accepts another method. What can go wrong, and what the visitor gets:
- a filter the dashboard cannot use: 400, a page naming the parameter (`BadFilter`);
- a call or tag page that names nothing: 404;
- a database without the ledger's tables, or at another revision: 503, a "setup required"
  page naming `llmledger db upgrade` (checked until it is ready, then no more);
- a database that does not answer: 503, saying so.
Templates autoescape everything: tag keys and values, model names and filters are untrusted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..store.engine import head_revision
from . import calls, pages
from .filters import BadFilter
from .site import Dashboard, SetupRequired

__all__ = ["build"]

log = logging.getLogger("llmledger")


def _page(dashboard: Dashboard, handler: Callable[[Dashboard, Request], Response]):
    """A route's endpoint: the handler, once the database is ready."""

    def endpoint(request: Request) -> Response:
        dashboard.check_ready()
        return handler(dashboard, request)

    return endpoint


def build(
    engine: Engine, budgets: list[Any] | None, budget_tz: str, owned: Engine | None = None
) -> Starlette:
    """The Starlette app over `engine` (see `llmledger.dashboard.app`); `owned`, an engine
    the app made, is disposed when the app's lifespan ends."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if owned is not None:
            owned.dispose()

    dashboard = Dashboard(engine, budgets, budget_tz)
    routes = [
        Route("/", _page(dashboard, pages.overview_page)),
        Route("/models", _page(dashboard, pages.models_page)),
        Route("/tags", _page(dashboard, pages.tags_page)),
        Route("/tags/{key}", _page(dashboard, pages.tag_page)),
        Route("/tags/{key}/{value:path}", _page(dashboard, pages.tag_value_page)),
        Route("/calls", _page(dashboard, calls.calls_page)),
        Route("/calls.csv", _page(dashboard, calls.calls_csv)),
        Route("/calls/{event_id}", _page(dashboard, calls.call_page)),
        Route("/quality", _page(dashboard, pages.quality_page)),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]

    def bad_filter(request: Request, error: Exception) -> Response:
        return dashboard.render(request, "error.html", 400, title="Bad filter", message=str(error))

    def setup_required(request: Request, error: Exception) -> Response:
        current = error.args[0] if error.args else None
        return dashboard.render(
            request,
            "setup.html",
            503,
            title="Setup required",
            current=current,
            head=head_revision(),
            url=engine.url.render_as_string(hide_password=True),
        )

    def unavailable(request: Request, error: Exception) -> Response:
        log.warning("llmledger dashboard: the database did not answer: %s", error)
        return dashboard.render(
            request,
            "error.html",
            503,
            title="Database unavailable",
            message="The ledger's database did not answer; try again in a moment "
            "(`llmledger doctor` checks the connection).",
        )

    def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return dashboard.render(
            request,
            "error.html",
            error.status_code,
            title="Not found" if error.status_code == 404 else "Error",
            message=error.detail,
        )

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            BadFilter: bad_filter,
            SetupRequired: setup_required,
            OperationalError: unavailable,
            HTTPException: http_error,
        },
    )
