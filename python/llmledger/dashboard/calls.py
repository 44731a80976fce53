"""The calls: a filtered, paginated list, one call's page, and the CSV export of a filtered set.

The CSV is streamed in pages of `EXPORT_PAGE` calls, each page continuing from the last call
of the one before (newest first, by time and id), so an export of millions of calls holds one
page in memory and has no row cap. Spreadsheets run a cell that starts with `=`, `+`, `-` or
`@` (or a tab or carriage return) as a formula: such text cells get a leading `'`, the
neutralisation spreadsheets themselves use. Costs are exact decimal USD, not `usd()`'s rounded
text: a CSV is for sums.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import polars as pl
from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..store.read import PRICE_COLUMNS, Page, read_page
from ..store.schema import BUCKETS, COST_COLUMNS, price_snapshots
from .filters import PAGE_SIZE, CallFilters, Filters, parse_calls
from .pages import page_filters
from .site import Dashboard

__all__ = ["EXPORT_PAGE", "call_page", "calls_csv", "calls_page", "neutralise"]

EXPORT_PAGE = 5_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_CSV_COLUMNS = (
    "at",
    "event_id",
    "provider",
    "model",
    "status",
    "http_status",
    "usage_source",
    "pricing_mode",
    *BUCKETS,
    "cost",
    "backfilled_cost",
    "latency_ms",
    "provider_response_id",
    *PRICE_COLUMNS,
)


def neutralise(cell: str) -> str:
    """`cell`, with a leading `'` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(_FORMULA) else cell


def _where(f: Filters, cf: CallFilters) -> dict[str, Any]:
    where: dict[str, Any] = f.where()
    if cf.status:
        where["status"] = cf.status
    if cf.priced == "estimated":
        where["usage_source"] = "estimated"
    return where


def _params(request: Request) -> dict[str, list[str]]:
    return {k: request.query_params.getlist(k) for k in request.query_params}


def _priced(cf: CallFilters) -> bool | None:
    return {"priced": True, "unpriced": False}.get(cf.priced or "")


def calls_page(dashboard: Dashboard, request: Request) -> Response:
    f = page_filters(dashboard, request)
    cf = parse_calls(_params(request))
    page = Page(
        order=cf.order, limit=PAGE_SIZE + 1, offset=(cf.page - 1) * PAGE_SIZE, priced=_priced(cf)
    )
    rows = read_page(dashboard.engine, f.since, f.until, _where(f, cf), page)
    return dashboard.render(
        request,
        "calls.html",
        title="Calls",
        f=f,
        cf=cf,
        rows=rows.head(PAGE_SIZE),
        more=rows.height > PAGE_SIZE,
    )


def call_page(dashboard: Dashboard, request: Request) -> Response:
    event_id = request.path_params["event_id"]
    rows = read_page(dashboard.engine, None, None, {"event_id": event_id}, Page(limit=1))
    if rows.is_empty():
        raise HTTPException(404, f"no call has the event id {event_id!r}")
    call = rows.row(0, named=True)
    snapshot = None
    snapshot_id = call["price_snapshot_id"] or call["backfilled_price_snapshot_id"]
    if snapshot_id:
        query = select(price_snapshots.c.source, price_snapshots.c.created_at_us).where(
            price_snapshots.c.id == snapshot_id
        )
        with dashboard.engine.connect() as connection:
            snapshot = connection.execute(query).first()
    tags = {k: v for k, v in (call["tags"] or {}).items() if v is not None}
    costs = [(c, call[c]) for c in COST_COLUMNS if call[c]]
    return dashboard.render(
        request,
        "call.html",
        title=f"Call {event_id}",
        call=call,
        tags=tags,
        costs=costs,
        buckets=BUCKETS,
        tokens=sum(call[b] for b in BUCKETS),
        snapshot=snapshot,
        snapshot_id=snapshot_id,
        stored=None if snapshot is None else _EPOCH + dt.timedelta(microseconds=snapshot[1]),
    )


def calls_csv(dashboard: Dashboard, request: Request) -> Response:
    f = page_filters(dashboard, request)
    known = dashboard.tag_keys(f)
    cf = parse_calls(_params(request))
    name = f"llmledger-calls-{f.since}-{f.to}.csv"
    return StreamingResponse(
        _csv_lines(dashboard, f, cf, known),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv_lines(dashboard: Dashboard, f: Filters, cf: CallFilters, keys: list[str]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(c) for c in (*_CSV_COLUMNS, *(f"tag:{k}" for k in keys))])
    after = None
    while True:
        page = Page(limit=EXPORT_PAGE, priced=_priced(cf), after=after)
        rows = read_page(dashboard.engine, f.since, f.until, _where(f, cf), page)
        for row in rows.iter_rows(named=True):
            writer.writerow(_csv_row(row, keys))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if rows.height < EXPORT_PAGE:
            return
        after = (_us(rows["at"][-1]), rows["id"][-1])


def _us(at: Any) -> int:
    return pl.Series([at]).dt.epoch("us")[0]


def _csv_row(row: dict[str, Any], keys: list[str]) -> list[str]:
    cells = []
    for column in _CSV_COLUMNS:
        value = row[column]
        if column == "at":
            cells.append(value.isoformat())
        elif value is None:
            cells.append("")
        elif isinstance(value, str):
            cells.append(neutralise(value))
        else:
            # Decimal costs as exact text (never exponent notation), numbers as written.
            cells.append(f"{value:f}" if hasattr(value, "as_tuple") else str(value))
    tags = row["tags"] or {}
    cells += [neutralise(tags.get(k) or "") for k in keys]
    return cells
