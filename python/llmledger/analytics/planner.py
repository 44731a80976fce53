"""Which source answers which part of a rollup's window: the cheapest that answers it exactly.

- The daily rollup table (`llmledger reaggregate`) answers whole UTC days for a request that
  needs sums only (`Request.needs_rows` is None) by its keys (provider, model, pricing mode,
  the job's tag keys) at UTC day or month buckets, or none. A request naming no tag reads the
  daily models table instead (the same sums without the tags, written with them), which
  stays small however many tenants and features multiply the daily rollup's groups. Both
  hold the calls with ids up to the job's watermark; so a day is taken from them only when no
  call of that day has an id above `watermark - LOOKBACK_IDS` and the backfill priced no call
  of it since the job's last run.
  Such a "recent" day, where the table may lag the ledger, is read from the ledger instead:
  a call committed late with an id below the watermark (which the job counts on its next run,
  the reason for its LOOKBACK_IDS) is counted here at once.
- The archive (Delta Lake, when the archive package and an archive exist) answers the rest
  of the window before its `until_us`, but its recent days, for any request: its calls with
  ids up to its `through_id`, the ledger adding those above.
- The ledger answers what is left: the edges of a window that starts or ends mid-day, the
  recent days, and everything when nothing else can. A request for sums is grouped by the
  database (`grouped.ledger_sums`); any other reads the calls one by one.

Calls removed by `llmledger prune` are in the daily rollup table (and the archive) only: a
part that only the ledger could answer before the pruning point is refused (`CallsPruned`)
rather than answered without them. So no day before it is "recent": the daily table or the
archive (the ledger adding the calls above its `through_id`) answers it, as of the job's last
run, rather than the ledger refusing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Table, func, select, union

from ..archive import archive_location
from ..archive.read import read_table
from ..archive.state import open_table, state_of
from ..store.derived import (
    LOOKBACK_IDS,
    backfill,
    daily_models,
    daily_rollup,
    pruned_before_us,
    state,
)
from ..store.schema import calls
from .request import Request

__all__ = [
    "ARCHIVE",
    "DAILY",
    "DAILY_MODELS",
    "DAILY_ROWS_PER_CALL",
    "LEDGER_GROUPED",
    "LEDGER_ROWS",
    "CallsPruned",
    "Part",
    "Plan",
]

DAILY = "daily rollup table"
DAILY_MODELS = "daily models table"
ARCHIVE = "archive"
LEDGER_GROUPED = "ledger, GROUP BY"
LEDGER_ROWS = "ledger, calls"
DAY_US = 86_400_000_000
_LOW, _HIGH = -(2**63), 2**63 - 1  # an open end of the window

DAILY_ROWS_PER_CALL = 0.5
"""The daily table is read when its newest day has at most this many rows per call: where
nearly every call is a group of its own (many tenants and models a day), it holds as many
rows as the ledger, and the database's GROUP BY of the ledger is as fast (unless calls were
pruned: then only the table has them)."""

Span = tuple[int, int]
"""Microseconds since the epoch, start inclusive, end exclusive; `_LOW`/`_HIGH` when open."""


class CallsPruned(LookupError):
    """A rollup needs calls one by one where `llmledger prune` removed them from the ledger,
    and no archive holds them."""


@dataclass
class Part:
    """One source and the part of the window it answers."""

    source: str
    spans: list[Span]
    ids_above: int | None = None
    """Only the ledger's calls with a larger id (the tail the archive has not copied)."""
    seconds: float | None = None
    groups: int | None = None

    def conditions(self) -> list[str]:
        """The part as SQL conditions on the ledger."""
        # Above an id, the id's range (the calls since the job ran) is the one to read: `+at_us`
        # keeps the databases off the at_us index, which would walk every call of the spans
        # (80 ms for none above the id in a month of a 1M-call SQLite ledger; 0.1 ms by id).
        at_us = "at_us" if self.ids_above is None else "+at_us"
        ors = []
        for start, end in self.spans:
            bounds = [f"{at_us} >= {start}"] if start != _LOW else []
            bounds += [f"{at_us} < {end}"] if end != _HIGH else []
            ors.append("(" + " AND ".join(bounds) + ")" if bounds else "1 = 1")
        found = ["(" + " OR ".join(ors) + ")"]
        return found + ([f"id > {self.ids_above}"] if self.ids_above is not None else [])

    def days(self) -> list[tuple[int | None, int | None]]:
        """The part as ranges of UTC day numbers (whole days only: the daily table's part)."""
        return [
            (None if s == _LOW else s // DAY_US, None if e == _HIGH else e // DAY_US)
            for s, e in self.spans
        ]

    def windows(self) -> list[tuple[int | None, int | None]]:
        """The part as `(since_us, until_us)` windows (None: open)."""
        return [(None if s == _LOW else s, None if e == _HIGH else e) for s, e in self.spans]

    def __str__(self) -> str:
        spans = ", ".join(f"[{_moment(s)}, {_moment(e)})" for s, e in self.spans)
        line = f"{self.source:<20} {spans}"
        if self.ids_above is not None:
            line += f" ids > {self.ids_above}"
        if self.seconds is not None:
            line += f"  ({self.groups} groups, {self.seconds:.3f} s)"
        return line


class Archive(NamedTuple):
    """An archive the planner may read: calls of `at_us < until_us` with `id <= through_id`."""

    uri: str
    through_id: int
    until_us: int
    read: Callable[[Any], Iterator[Any]]
    """The archive's calls a `Query` selects, as `llmledger.archive.read_archive` gives them."""


@dataclass
class Plan:
    """What `rollup(..., explain=True)` returns beside its result: the parts, in the order
    they were read, and why a cheaper source was not used."""

    request: Request
    parts: list[Part] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    archive: Archive | None = None

    def __str__(self) -> str:
        lines = [f"rollup {self.request.describe()}"]
        lines += [f"  {p}" for p in self.parts]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def archive_of(engine: Engine) -> Archive | None:
    """The database's archive, if one was written. Its table is opened once: the parts are
    read from the snapshot whose state the plan was made with."""
    uri = archive_location(engine)
    table = None if uri is None else open_table(uri)
    found = None if table is None else state_of(table)
    if found is None:
        return None
    return Archive(uri, found.through_id, found.until_us, partial(read_table, table))


def plan(connection: Connection, request: Request, archive: Archive | None) -> Plan:
    """The parts of `request`'s window and the source of each (see the module's docstring)."""
    found = Plan(request, archive=archive)
    rows = request.needs_rows()
    daily = None if rows is not None else _daily_state(connection)
    if rows is not None:
        found.notes.append(f"daily rollup table not used: {rows}")
    elif daily is None:
        found.notes.append("daily rollup table not used: `llmledger reaggregate` has not run")
    elif refusal := request.daily_refusal(daily[1]):
        found.notes.append(f"daily rollup table not used: {refusal}")
        daily = None
    elif (
        ratio := _rows_per_call(connection, _DAILY_TABLES[_daily_source(request)])
    ) > DAILY_ROWS_PER_CALL and (pruned_before_us(connection) is None):
        found.notes.append(
            f"{_daily_source(request)} not used: its newest day has {ratio:.2f} rows per call, "
            "no fewer rows to read than the ledger's"
        )
        daily = None
    low = [d[0] for d in (daily,) if d is not None]
    low += [archive.through_id] if archive is not None else []
    recent = [] if not low else _recent_days(connection, min(low), daily)
    if (pruned := pruned_before_us(connection)) is not None:
        # Before the pruning point the ledger cannot answer a day alone: a late call there
        # must not send its day to the ledger for the next LOOKBACK_IDS ids, to be refused.
        recent = _minus(recent, [(_LOW, pruned)])
    start = _LOW if request.since_us is None else request.since_us
    end = _HIGH if request.until_us is None else request.until_us
    left = [(start, end)] if start < end else []
    if daily is not None:
        whole = (_ceil_day(start), end if end == _HIGH else end // DAY_US * DAY_US)
        spans = _minus([whole] if whole[0] < whole[1] else [], recent)
        if spans:
            found.parts.append(Part(_daily_source(request), spans))
            left = _minus(left, spans)
    if archive is not None:
        spans = _minus(_cut(left, (_LOW, archive.until_us)), recent)
        if spans:
            found.parts.append(Part(ARCHIVE, spans))
            found.parts.append(Part(_ledger(rows), spans, ids_above=archive.through_id))
            left = _minus(left, spans)
    if left or not found.parts:
        found.parts.append(Part(_ledger(rows), left))
    _refuse_pruned(connection, found)
    return found


def _ledger(rows: str | None) -> str:
    return LEDGER_ROWS if rows is not None else LEDGER_GROUPED


def _daily_state(connection: Connection) -> tuple[int, list[str], int] | None:
    """The job's watermark, tag keys and last run's time; None before its first full run
    (or while a rebuild has reset it)."""
    row = connection.execute(
        select(state.c.watermark_id, state.c.tag_keys, state.c.updated_at_us).where(
            state.c.name == "daily"
        )
    ).one_or_none()
    if row is None or not row.watermark_id:
        return None
    return row.watermark_id, list(row.tag_keys), row.updated_at_us


def _daily_source(request: Request) -> str:
    """The daily table that answers `request`: the models table when it names no tag."""
    return DAILY_MODELS if request.untagged else DAILY


_DAILY_TABLES = {DAILY: daily_rollup, DAILY_MODELS: daily_models}


def _rows_per_call(connection: Connection, table: Table) -> float:
    """Rows of a daily table per call, on its newest day (a look at one day's rows)."""
    newest = select(func.max(table.c.day)).scalar_subquery()
    rows, summed = connection.execute(
        select(func.count(), func.sum(table.c.calls)).where(table.c.day == newest)
    ).one()
    return rows / int(summed) if summed else 0.0


def _recent_days(connection: Connection, watermark: int, daily) -> list[Span]:
    """The UTC days where the daily table or the archive may lag the ledger: those of the
    calls with ids above `watermark - LOOKBACK_IDS`, and those of calls the backfill priced
    since the job's last run finished (a run under way)."""
    day = calls.c.at_us // DAY_US
    query = select(day).where(calls.c.id > watermark - LOOKBACK_IDS).distinct()
    if daily is not None:
        priced = backfill.c.backfilled_at_us > daily[2]
        query = union(query, select(backfill.c.at_us // DAY_US).where(priced))
    days = sorted({int(d) for d in connection.execute(query).scalars()})
    return _merged((d * DAY_US, (d + 1) * DAY_US) for d in days)


def _refuse_pruned(connection: Connection, found: Plan) -> None:
    ledger = [p for p in found.parts if p.source.startswith("ledger") and p.ids_above is None]
    if not ledger:
        return
    pruned = pruned_before_us(connection)
    if pruned is None:
        return
    lost = _cut(ledger[0].spans, (_LOW, pruned))
    if lost:
        why = found.request.needs_rows() or found.notes[-1].removeprefix("daily rollup table ")
        raise CallsPruned(
            f"calls before {_moment(pruned)} were pruned from the ledger and no archive holds "
            f"them, and this rollup cannot be answered from the daily rollup table ({why}); "
            f"roll up from {_moment(pruned)} on (since=...), or ask for sums its table keeps"
        )


def _ceil_day(us: int) -> int:
    return us if us == _LOW else -(-us // DAY_US) * DAY_US


def _merged(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _cut(spans: list[Span], within: Span) -> list[Span]:
    """`spans` inside `within`."""
    cut = [(max(s, within[0]), min(e, within[1])) for s, e in spans]
    return [(s, e) for s, e in cut if s < e]


def _minus(spans: list[Span], holes: list[Span]) -> list[Span]:
    """`spans` without `holes` (both sorted and disjoint)."""
    out = []
    for s, e in spans:
        for hs, he in holes:
            if he <= s or hs >= e:
                continue
            if hs > s:
                out.append((s, hs))
            s = max(s, he)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def _moment(us: int) -> str:
    if us in (_LOW, _HIGH):
        return "open"
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    return moment.isoformat().replace("+00:00", "Z")
