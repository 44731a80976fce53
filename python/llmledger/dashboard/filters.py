"""The dashboard's filters: query parameters in, a checked `Filters` out, or a `BadFilter`.

Every view is a URL (`?from=2026-11-01&to=2026-11-30&provider=openai&tag=tenant:acme`), so
filters are untrusted text. Each is checked here, once, with a message naming the parameter:
dates are whole UTC days (`to` included), a range spans at most `MAX_DAYS`, texts are bounded,
and a tag filter is `key:value` (split at the first colon, so a value may hold colons).
Nothing here touches the database; the values reach SQL only through the read API's literals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

__all__ = ["MAX_DAYS", "PAGE_SIZE", "BadFilter", "CallFilters", "Filters", "parse", "parse_calls"]

MAX_DAYS = 732
"""The longest range a page covers (two years): a bounded read, whatever the URL says."""
DEFAULT_DAYS = 30
PAGE_SIZE = 50
MAX_PAGE = 2_000
"""Pages of `/calls` past this are refused: the CSV export reads a whole range instead."""
MAX_TAGS = 8
MAX_TEXT = 255
PRICED_STATES = ("priced", "unpriced", "estimated")
ORDERS = ("newest", "cost")


class BadFilter(ValueError):
    """A query parameter the dashboard cannot use; the message names it."""


@dataclass(frozen=True)
class Filters:
    """The range (`since` inclusive, `until` exclusive, both UTC midnights) and the equality
    filters every page applies."""

    since: dt.date
    until: dt.date
    provider: str | None = None
    model: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def days(self) -> int:
        return (self.until - self.since).days

    @property
    def to(self) -> dt.date:
        """The last day of the range, as the form shows it."""
        return self.until - dt.timedelta(days=1)

    def where(self) -> dict[str, str]:
        """The filters as `rollup(where=...)` and `read_calls` take them."""
        found = {k: v for k, v in (("provider", self.provider), ("model", self.model)) if v}
        found.update(self.tags)
        return found

    def with_tag(self, key: str, value: str) -> Filters:
        """These filters, narrowed to the calls tagged `key` = `value`."""
        return replace(self, tags=tuple({**dict(self.tags), key: value}.items()))

    def previous(self) -> Filters:
        """The range of the same length just before this one."""
        span = dt.timedelta(days=self.days)
        return replace(self, since=self.since - span, until=self.since)

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The query parameters of this view, with `changes` (None drops one)."""
        values: dict[str, Any] = {
            "from": self.since.isoformat(),
            "to": self.to.isoformat(),
            "provider": self.provider,
            "model": self.model,
            "tag": [f"{k}:{v}" for k, v in self.tags],
        }
        values.update(changes)
        pairs = []
        for name, value in values.items():
            for one in value if isinstance(value, list | tuple) else [value]:
                if one is not None and one != "":
                    pairs.append((name, str(one)))
        return pairs

    def query(self, **changes: Any) -> str:
        """`params` as a URL's query string, `?` included."""
        return "?" + urlencode(self.params(**changes))


@dataclass(frozen=True)
class CallFilters:
    """`/calls`' own filters on top of `Filters`."""

    priced: str | None = None
    status: str | None = None
    order: str = "newest"
    page: int = 1

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {"priced": self.priced, "status": self.status, "order": self.order}
        values["page"] = self.page if self.page > 1 else None
        values.update(changes)
        return values


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in params.get(name, ()) if v != ""]
    if len(values) > 1:
        raise BadFilter(f"{name} is given {len(values)} times; give it once")
    if not values:
        return None
    if len(values[0]) > MAX_TEXT:
        raise BadFilter(f"{name} is longer than {MAX_TEXT} characters")
    return values[0]


def _day(params: Mapping[str, Sequence[str]], name: str) -> dt.date | None:
    text = _one(params, name)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"{name} must be a date as YYYY-MM-DD, not {text!r}") from None


def parse(params: Mapping[str, Sequence[str]], today: dt.date) -> Filters:
    """The `Filters` of a page's query parameters (name -> every value given). Without a
    range: the `DEFAULT_DAYS` days up to `today`, included."""
    since, last = _day(params, "from"), _day(params, "to")
    if last is None:
        last = today if since is None else min(today, since + dt.timedelta(DEFAULT_DAYS - 1))
    if since is None:
        since = last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if since > last:
        raise BadFilter(f"from ({since}) is after to ({last})")
    if (last - since).days >= MAX_DAYS:
        raise BadFilter(f"the range from {since} to {last} is longer than {MAX_DAYS} days")
    if last >= dt.date.max:
        raise BadFilter(f"to ({last}) is past the last day a calendar has")
    tags: dict[str, str] = {}
    given = [t for t in params.get("tag", ()) if t != ""]
    if len(given) > MAX_TAGS:
        raise BadFilter(f"at most {MAX_TAGS} tag filters, not {len(given)}")
    for text in given:
        key, colon, value = text.partition(":")
        if not colon or not key:
            raise BadFilter(f"a tag filter is tag=key:value, not {text!r}")
        if len(key) > MAX_TEXT or len(value) > 4 * MAX_TEXT:
            raise BadFilter(f"the tag filter {text[:40]!r}... is too long")
        if key in tags and tags[key] != value:
            raise BadFilter(f"the tag {key!r} is filtered on twice; a call has one value of it")
        tags[key] = value
    return Filters(
        since=since,
        until=last + dt.timedelta(days=1),
        provider=_one(params, "provider"),
        model=_one(params, "model"),
        tags=tuple(tags.items()),
    )


def parse_calls(params: Mapping[str, Sequence[str]]) -> CallFilters:
    """`/calls`' own query parameters: priced, status, order and page."""
    priced = _one(params, "priced")
    if priced is not None and priced not in PRICED_STATES:
        raise BadFilter(f"priced must be one of {', '.join(PRICED_STATES)}, not {priced!r}")
    order = _one(params, "order") or "newest"
    if order not in ORDERS:
        raise BadFilter(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    page_text = _one(params, "page") or "1"
    if not page_text.isdecimal() or not 1 <= int(page_text) <= MAX_PAGE:
        raise BadFilter(f"page must be a whole number from 1 to {MAX_PAGE}, not {page_text!r}")
    return CallFilters(
        priced=priced, status=_one(params, "status"), order=order, page=int(page_text)
    )
