"""Where a prune may cut the ledger, and why it refuses: the cutoff read from the user, rounded
down to a UTC midnight (the daily rollup's day boundary), then checked against what the
nightly job has rolled up and the budget periods still open.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select

from ..reaggregate.backfill import DAY_US
from ..store.derived import state
from ..store.schema import calls
from ..store.totals import Calendar
from ..store.totals_sql import stored_spec

__all__ = ["PruneRefused", "check_prunable", "horizon_of", "parse_age", "utc"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_AGE = re.compile(r"(\d+)([dw])")


class PruneRefused(RuntimeError):
    """The prune would lose or falsify a record: its message says which and what to do."""


def parse_age(text: str) -> dt.timedelta:
    """``"180d"`` or ``"26w"`` as a timedelta; ValueError naming older_than otherwise."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"older_than: {text!r} is not an age such as 180d or 26w")
    number, unit = int(match[1]), match[2]
    return dt.timedelta(days=number * (7 if unit == "w" else 1))


def horizon_of(
    older_than: dt.timedelta | str | None, before: dt.date | None, now: dt.datetime
) -> int:
    """The prune horizon for the user's cutoff, UTC microseconds: `now - older_than`, or
    `before` (a date, or a datetime, UTC when naive), rounded down to a UTC midnight."""
    if (older_than is None) == (before is None):
        raise TypeError("prune: give exactly one of older_than and before")
    if older_than is not None:
        age = parse_age(older_than) if isinstance(older_than, str) else older_than
        if not isinstance(age, dt.timedelta) or age < dt.timedelta(0):
            raise ValueError(f"older_than: {older_than!r} is not an age of 0 days or more")
        cutoff = now - age
    elif isinstance(before, dt.datetime):
        cutoff = before if before.tzinfo else before.replace(tzinfo=dt.UTC)
    elif isinstance(before, dt.date):
        cutoff = dt.datetime(before.year, before.month, before.day, tzinfo=dt.UTC)
    else:
        raise TypeError(f"before: expected a date or datetime, got {type(before).__name__}")
    return (cutoff - _EPOCH) // _US // DAY_US * DAY_US


def utc(us: int) -> str:
    """An instant of UTC microseconds, as the messages show it."""
    return (_EPOCH + us * _US).strftime("%Y-%m-%d %H:%M UTC")


def watermark(conn: Connection) -> int | None:
    """The highest ledger id the nightly job has rolled up; None if it never ran."""
    query = select(state.c.watermark_id).where(state.c.name == "daily")
    return conn.execute(query).scalar_one_or_none()


def check_prunable(conn: Connection, horizon: int, now: dt.datetime) -> int:
    """The watermark (the highest ledger id the nightly job rolled up) if calls before
    `horizon` may be pruned at `now`; `PruneRefused`, saying why and what to do, if not."""
    problem, rolled_up = _problem(conn, horizon, now)
    if problem is not None or rolled_up is None:
        raise PruneRefused(f"not pruning calls before {utc(horizon)}: {problem}")
    return rolled_up


def _problem(conn: Connection, horizon: int, now: dt.datetime) -> tuple[str | None, int | None]:
    today = (now - _EPOCH) // _US // DAY_US * DAY_US
    if horizon > today:
        message = f"the cutoff is not in a closed day: only calls before {utc(today)} can go"
        return message, None
    spec = stored_spec(conn)
    if spec is not None:
        # The spend totals budgets read: a period still open must keep every one of its calls.
        now_us = (now - _EPOCH) // _US
        for period, start, _ in Calendar(spec).periods(now_us):
            if horizon > start:
                local = (_EPOCH + start * _US).astimezone(ZoneInfo(spec.tz))
                return (
                    f"the cutoff falls inside the current {period} (since "
                    f"{local:%Y-%m-%d %H:%M} {spec.tz}), a budget period still open: choose "
                    f"a cutoff at or before {utc(start // DAY_US * DAY_US)}"
                ), None
    rolled_up = watermark(conn)
    if rolled_up is None:
        return "the nightly job never ran on this database: run llmledger reaggregate first", None
    late = conn.execute(
        select(func.count()).where(calls.c.at_us < horizon, calls.c.id > rolled_up)
    ).scalar_one()
    if late:
        return (
            f"{late:,} of its calls are not rolled up yet (recorded after the last "
            "reaggregate run): run llmledger reaggregate first"
        ), rolled_up
    return None, rolled_up
