"""The dashboard's pages other than the calls: overview, models, tags, a tag's value, quality.

Each handler parses the filters (a `BadFilter` is the 400 page), checks the tags they name
against the range's, asks `queries` / `overview` / `quality` for its figures and renders.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from .charts import stacked_bars
from .filters import BadFilter, Filters
from .overview import ANOMALY_RULE, overview
from .quality import quality
from .queries import (
    MODEL_SORTS,
    check_tags,
    day_range,
    known_tags,
    models,
    tag_value,
    tag_values,
)
from .site import Dashboard

__all__ = [
    "models_page",
    "overview_page",
    "page_filters",
    "quality_page",
    "tag_page",
    "tag_value_page",
    "tags_page",
]

STACKS = ("provider", "model")
BREAKDOWNS = 4
"""Other tag keys a tag value's page breaks its calls down by."""


def _one(request: Request, name: str, default: str) -> str:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise BadFilter(f"{name} is given {len(values)} times; give it once")
    return values[0] if values and values[0] else default


def page_filters(dashboard: Dashboard, request: Request, *keys: str) -> tuple[Filters, list[str]]:
    """The filters and the range's tag keys, every tag named (filters and `keys`) known."""
    f = dashboard.filters(request)
    known = known_tags(dashboard.engine, f)
    check_tags([*dict(f.tags), *keys], known)
    return f, known


def overview_page(dashboard: Dashboard, request: Request) -> Response:
    stack = _one(request, "stack", "provider")
    if stack not in STACKS:
        raise BadFilter(f"stack must be one of {', '.join(STACKS)}, not {stack!r}")
    f, _ = page_filters(dashboard, request)
    found = overview(dashboard.engine, f, stack)
    chart = stacked_bars(f"Daily spend by {stack}", found.days, found.series)
    return dashboard.render(
        request,
        "overview.html",
        title="Overview",
        f=f,
        o=found,
        chart=chart,
        stack=stack,
        stacks=STACKS,
        rule=ANOMALY_RULE,
        budgets=_budget_panel(dashboard),
    )


def _budget_panel(dashboard: Dashboard) -> list | None:
    """Each budget's status, when the dashboard was given budgets."""
    if not dashboard.budgets:
        return None
    from .. import budget_status  # the budgets' read, kept out of a dashboard without budgets

    return budget_status(dashboard.engine, dashboard.budgets, tz=dashboard.budget_tz)


def models_page(dashboard: Dashboard, request: Request) -> Response:
    sort = _one(request, "sort", "cost")
    order = _one(request, "dir", "desc")
    if order not in ("asc", "desc"):
        raise BadFilter(f"dir must be asc or desc, not {order!r}")
    f, _ = page_filters(dashboard, request)
    rows = models(dashboard.engine, f, sort, order == "desc")
    return dashboard.render(
        request,
        "models.html",
        title="Models",
        f=f,
        rows=rows,
        sort=sort,
        dir=order,
        sorts=MODEL_SORTS,
    )


def tags_page(dashboard: Dashboard, request: Request) -> Response:
    f, known = page_filters(dashboard, request)
    return dashboard.render(request, "tags.html", title="Tags", f=f, keys=known)


def tag_page(dashboard: Dashboard, request: Request) -> Response:
    key = request.path_params["key"]
    f = dashboard.filters(request)
    known = known_tags(dashboard.engine, f)
    if key not in known:
        raise HTTPException(404, f"no call from {f.since} to {f.to} has the tag {key!r}")
    check_tags(dict(f.tags), known)
    rows, everything = tag_values(dashboard.engine, f, key)
    return dashboard.render(
        request, "tag.html", title=f"Tag {key}", f=f, key=key, rows=rows, totals=everything
    )


def tag_value_page(dashboard: Dashboard, request: Request) -> Response:
    key, value = request.path_params["key"], request.path_params["value"]
    f = dashboard.filters(request)
    known = known_tags(dashboard.engine, f)
    if key not in known:
        raise HTTPException(404, f"no call from {f.since} to {f.to} has the tag {key!r}")
    check_tags(dict(f.tags), known)
    others = [k for k in known if k != key and k not in dict(f.tags)][:BREAKDOWNS]
    found = tag_value(dashboard.engine, f, key, value, others)
    if not found["totals"].calls:
        raise HTTPException(404, f"no call from {f.since} to {f.to} has {key} = {value!r}")
    days, daily = _daily(found["daily"], f)
    chart = stacked_bars(f"Daily spend of {key} = {value}", days, [(value, daily)])
    return dashboard.render(
        request,
        "tag_value.html",
        title=f"{key} = {value}",
        f=f,
        key=key,
        value=value,
        found=found,
        chart=chart,
    )


def _daily(rows: pl.DataFrame, f: Filters) -> tuple[list[dt.date], list[Decimal]]:
    """Priced spend per day of the range, 0 on days without priced calls."""
    days = day_range(f.since, f.until)
    spent = {d.date(): c for d, c in rows.select("day", "cost").iter_rows() if c is not None}
    return days, [spent.get(d, Decimal(0)) for d in days]


def quality_page(dashboard: Dashboard, request: Request) -> Response:
    f, known = page_filters(dashboard, request)
    return dashboard.render(
        request, "quality.html", title="Data quality", f=f, q=quality(dashboard.engine, f, known)
    )
