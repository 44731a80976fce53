"""Which calls a read keeps: the time window and the equality filters, as SQL, for every read.

`calls()` and the analytics reads (`rollup(engine)`, `reprice(engine)`) select the same calls
for the same arguments because both take their WHERE from `conditions` here. The conditions
are SQL text with the values written in as literals: the analytics drivers (ADBC, connectorx)
take no bind parameters, and one text serves both.

The rules, on every database:
- `since` is inclusive, `until` exclusive, and `since` must come before `until`;
- a key naming a column of `llmledger_calls` filters that column, any other key a tag;
- None keeps the calls whose column is NULL, or that lack the tag;
- any other value is compared as text (``http_status=500`` matches the stored integer 500),
  exactly: on MySQL/MariaDB, whose collations ignore trailing spaces, byte for byte.

A key that names no tag of any call gives an empty or all-null answer that looks like a real
one; `warn_unknown_tags` says so, with the keys that do exist (`UnknownTagWarning`).
"""

from __future__ import annotations

import difflib
import json
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, String

from .schema import LEDGER_COLUMNS, calls

__all__ = [
    "UnknownTagWarning",
    "conditions",
    "literal",
    "tag_keys",
    "tag_present",
    "tag_sql",
    "to_us",
    "warn_unknown_tags",
    "window",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NOT_TEXT = frozenset(c for c in LEDGER_COLUMNS if not isinstance(calls.c[c].type, String))


class UnknownTagWarning(UserWarning):
    """A read named a tag that no call in its window has (a typo, most often): its answer is
    empty, or its groups all null, rather than what was meant."""


def to_us(moment: datetime | date | str) -> int:
    """Microseconds since the epoch, UTC, exactly: naive datetimes are UTC, a date is its
    midnight UTC, a string is ISO 8601 (a date or a datetime)."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            raise ValueError(f"{moment!r} is not an ISO 8601 date or date-time") from None
    elif not isinstance(moment, date):
        raise TypeError(
            f"a time is a datetime, a date or an ISO 8601 string, not {type(moment).__name__}"
        )
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def window(since: Any, until: Any) -> tuple[int | None, int | None]:
    """`since` and `until` in microseconds (None: open); a `ValueError` unless `since` comes
    before `until`, since such a window holds no call and its empty answer would look real."""
    since_us = None if since is None else to_us(since)
    until_us = None if until is None else to_us(until)
    if since_us is not None and until_us is not None and since_us >= until_us:
        raise ValueError(f"since ({since}) must be before until ({until})")
    return since_us, until_us


def tag_sql(dialect: str, key: str) -> str:
    """SQL for the value of tag `key` as text (NULL when the call lacks it)."""
    if dialect == "postgresql":
        return "(tags ->> " + literal(key, dialect) + ")"
    if dialect == "sqlite" and '"' in key:
        # SQLite before 3.45 ends a quoted path label at the first '"', escaped or not.
        return (
            f"(SELECT CAST(value AS TEXT) FROM json_each(tags) WHERE key = {literal(key, dialect)})"
        )
    # SQLite and MariaDB match a path's label against the key as stored, and the ledger stores
    # tags as `json.dumps` writes them (non-ASCII escaped): the label is written the same way.
    path = literal("$." + json.dumps(key), dialect)
    if dialect == "mysql":
        return f"JSON_UNQUOTE(JSON_EXTRACT(tags, {path}))"
    # CAST: json_extract returns a JSON number as an integer; tags compare and group as text.
    return f"CAST(json_extract(tags, {path}) AS TEXT)"


def literal(value: int | str, dialect: str) -> str:
    """An SQL literal: quotes doubled and, on MySQL, whose default sql_mode treats backslashes
    as escapes, backslashes doubled."""
    if isinstance(value, int):
        return str(value)
    if dialect == "mysql":
        value = value.replace("\\", "\\\\")
    return "'" + value.replace("'", "''") + "'"


def conditions(
    dialect: str,
    since_us: int | None = None,
    until_us: int | None = None,
    where: Mapping[str, Any] | None = None,
    tag: Callable[[str, str], str] = tag_sql,
    *,
    narrowed: bool = False,
) -> list[str]:
    """The WHERE conditions (to be joined with AND) keeping the calls of the window whose
    columns or tags equal `where`'s values (see the module's docstring). `tag(dialect, key)`
    is the SQL of a tag's value (another table's `tags` column may need its own).

    `narrowed`: other conditions (the planner's days, or ids above one) bound the calls read,
    as a window bounded at both ends does. SQLite then reads by those bounds: a column filter
    is written `+column = ...`, which it uses no index for. Without statistics (`ANALYZE`,
    which the library does not run on the app's database) SQLite prefers an equality on the
    (provider, model) index to any range, and walks every call of that provider, of all time:
    0.37 s for one day's calls of a 1M-call ledger, instead of 0.02 s by at_us."""
    found = []
    by_bounds = dialect == "sqlite" and (
        narrowed or (since_us is not None and until_us is not None)
    )
    if since_us is not None:
        found.append(f"at_us >= {int(since_us)}")
    if until_us is not None:
        found.append(f"at_us < {int(until_us)}")
    for key, value in (where or {}).items():
        expr = key if key in LEDGER_COLUMNS else tag(dialect, key)
        if value is None:
            found.append(f"{expr} IS NULL")
        elif dialect == "mysql":
            # Collations pad with spaces ('acme ' = 'acme'): compare bytes. A number casts to
            # the bytes of its decimal text.
            found.append(f"CAST({expr} AS BINARY) = CAST({literal(str(value), dialect)} AS BINARY)")
        else:
            if key in _NOT_TEXT:
                expr = f"CAST({expr} AS TEXT)"
            elif by_bounds and key in LEDGER_COLUMNS:
                expr = f"+{expr}"
            found.append(f"{expr} = {literal(str(value), dialect)}")
    return found


def tag_present(
    connection: Connection, key: str, since_us: int | None, until_us: int | None
) -> bool:
    """Whether some call of the window has tag `key`: a look that stops at the first one, so
    a key in use costs next to nothing, where listing the window's keys scans every call."""
    dialect = connection.dialect.name
    found = conditions(dialect, since_us, until_us)
    found.append(f"{tag_sql(dialect, key)} IS NOT NULL")
    sql = f"SELECT 1 FROM llmledger_calls WHERE {' AND '.join(found)} LIMIT 1"
    # exec_driver_sql: literals only (the read API's), nothing to parse as a parameter.
    return connection.exec_driver_sql(sql).first() is not None


def tag_keys(connection: Connection, since_us: int | None, until_us: int | None) -> set[str]:
    """Every tag key some call of the window has: one scan of the window, for the rare read
    that asked for a tag and found no value of it."""
    dialect = connection.dialect.name
    found = conditions(dialect, since_us, until_us)
    where = (" WHERE " + " AND ".join(found)) if found else ""
    if dialect == "postgresql":
        sql = f"SELECT DISTINCT jsonb_object_keys(tags) FROM llmledger_calls{where}"
    elif dialect == "mysql":
        sql = f"SELECT DISTINCT JSON_KEYS(tags) FROM llmledger_calls{where}"
    else:
        sql = (
            f"SELECT DISTINCT j.key FROM llmledger_calls, json_each(llmledger_calls.tags) j{where}"
        )
    # exec_driver_sql: literals only, nothing for SQLAlchemy to parse as a parameter.
    values = connection.exec_driver_sql(sql).scalars()
    if dialect != "mysql":
        return set(values)
    return {key for keys in values if keys is not None for key in json.loads(keys)}


def warn_unknown_tags(asked: Iterable[str], known: Iterable[str]) -> None:
    """An `UnknownTagWarning` for each key of `asked` not among the window's tag keys `known`,
    with the nearest known key. Nothing when no call of the window has a tag at all: there is
    nothing to compare with, and an empty window's empty answer is true."""
    known = sorted(known)
    if not known:
        return
    for key in dict.fromkeys(asked):
        if key in known:
            continue
        message = f"no call in the window has the tag {key!r}"
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; the tags there are {', '.join(known)}"
        warnings.warn(message, UnknownTagWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The `stacklevel` of the first frame outside this package: the line that made the
    read, wherever inside the package the warning is raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("llmledger."):
        frame, level = frame.f_back, level + 1
    return level
