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
    has_tag,
    models,
    rolled_up_tags,
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


def _one(request: Request, name: str, default: str) -> str:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise BadFilter(f"{name} is given {len(values)} times; give it once")
    return values[0] if values and values[0] else default


def page_filters(dashboard: Dashboard, request: Request) -> Filters:
    """The filters, every tag they name checked to be some call's in the range."""
    f = dashboard.filters(request)
    check_tags(dashboard.engine, f, dict(f.tags), lambda: dashboard.tag_keys(f))
    return f


def _tag_route(dashboard: Dashboard, request: Request, key: str) -> Filters:
    """The filters of `/tags/{key}...`: a 404 when no call of the range has `key`."""
    f = dashboard.filters(request)
    if not has_tag(dashboard.engine, f, key):
        raise HTTPException(404, f"no call from {f.since} to {f.to} has the tag {key!r}")
    check_tags(dashboard.engine, f, dict(f.tags), lambda: dashboard.tag_keys(f))
    return f


def overview_page(dashboard: Dashboard, request: Request) -> Response:
    stack = _one(request, "stack", "provider")
    if stack not in STACKS:
        raise BadFilter(f"stack must be one of {', '.join(STACKS)}, not {stack!r}")
    f = page_filters(dashboard, request)
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


def _budget_panel(dashboard: Dashboard) -> list | str | None:
    """Each budget's status, when the dashboard was given budgets; or, when the database
    keeps no totals for them (no app has run with these budgets yet), what to do."""
    if not dashboard.budgets:
        return None
    # The budgets' read, kept out of a dashboard without budgets.
    from ..budgets.status import TotalsNotKept, budget_status

    try:
        return budget_status(dashboard.engine, dashboard.budgets, tz=dashboard.budget_tz)
    except TotalsNotKept as exc:
        return str(exc)


def models_page(dashboard: Dashboard, request: Request) -> Response:
    sort = _one(request, "sort", "cost")
    order = _one(request, "dir", "desc")
    if order not in ("asc", "desc"):
        raise BadFilter(f"dir must be asc or desc, not {order!r}")
    f = page_filters(dashboard, request)
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
    f = page_filters(dashboard, request)
    return dashboard.render(request, "tags.html", title="Tags", f=f, keys=dashboard.tag_keys(f))


def tag_page(dashboard: Dashboard, request: Request) -> Response:
    key = request.path_params["key"]
    f = _tag_route(dashboard, request, key)
    rows, everything = tag_values(dashboard.engine, f, key)
    return dashboard.render(
        request, "tag.html", title=f"Tag {key}", f=f, key=key, rows=rows, totals=everything
    )


def tag_value_page(dashboard: Dashboard, request: Request) -> Response:
    key, value = request.path_params["key"], request.path_params["value"]
    f = _tag_route(dashboard, request, key)
    # Broken down by the tags the nightly job rolls up (feature, tenant by default): those
    # the planner answers from its daily table, not from every call.
    others = [
        k
        for k in rolled_up_tags(dashboard.engine)
        if k != key and k not in dict(f.tags) and has_tag(dashboard.engine, f, k)
    ]
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
    f = page_filters(dashboard, request)
    found = quality(dashboard.engine, f, dashboard.tag_keys(f))
    return dashboard.render(request, "quality.html", title="Data quality", f=f, q=found)
