"""How the dashboard writes numbers: money through `llmledger.money.usd` (the one rule, shared
with the command line), counts with thousands separators, shares as percentages.

These are Jinja2 filters; their output is text that the templates escape like any other.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import quote

from ..money import usd

__all__ = ["FILTERS", "change", "count", "latency", "moment", "percent", "segment", "usd"]


def count(value: int | None) -> str:
    """`1,204`; an em dash for nothing."""
    return "—" if value is None else f"{value:,}"


def percent(share: Decimal | float | None) -> str:
    """A share of 1 as `12.5%`; `<0.1%` for a share too small to show but not none."""
    if share is None:
        return "—"
    value = Decimal(str(share)) * 100
    if 0 < value < Decimal("0.1"):
        return "<0.1%"
    return f"{value.quantize(Decimal('0.1'))}%"


def change(current: Decimal | int | None, previous: Decimal | int | None) -> str:
    """The change from `previous` to `current`: `+12.5%`, `-3.0%`, `new` when there was
    nothing before, an em dash when either is unknown."""
    if current is None or previous is None:
        return "—"
    if previous == 0:
        return "no change" if current == 0 else "new"
    value = (Decimal(current) - Decimal(previous)) / Decimal(previous) * 100
    return f"{value:+.1f}%"


def latency(ms: float | None) -> str:
    """Milliseconds as `350 ms` or `1.24 s`."""
    if ms is None:
        return "—"
    return f"{ms:,.0f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def moment(at: dt.datetime | None) -> str:
    """A call's time, to the second, UTC."""
    return "—" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def segment(text: str) -> str:
    """`text` as one segment of a URL's path: every reserved character escaped, `/` too."""
    return quote(text, safe="")


FILTERS = {
    "segment": segment,
    "usd": usd,
    "count": count,
    "percent": percent,
    "change": change,
    "latency": latency,
    "moment": moment,
}
"""The filters the templates use, by name."""
