"""Reading and writing the spend totals of `totals`: the upsert, the preflight read, rebuilds.

Totals are added with each database's atomic upsert (``ON CONFLICT DO UPDATE SET calls =
calls + excluded.calls``, ``ON DUPLICATE KEY UPDATE``), in primary-key order, so writers in
many processes add to the same rows without losing an update and lock them in one order (no
deadlock between two batches). The caller's transaction is the ledger insert's (or the
backfill's): a total moves exactly when the rows it sums are committed.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, Engine, Insert, and_, delete, insert, or_, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from .derived import backfill, pruned_before_us
from .dialects import PostgresUnnestInsert
from .schema import calls
from .totals import Calendar, Deltas, Scope, Total, TotalsSpec, spend_totals, tally, totals_state

__all__ = [
    "TotalsNotSupported",
    "add_backfilled",
    "add_totals",
    "ensure_totals",
    "read_totals",
    "rebuild_totals",
    "require_returning",
    "stored_spec",
]

_SUMS = ("calls", "cost", "unpriced_calls")
_REBUILD_CHUNK = 10_000


def _upsert(dialect: Dialect) -> Insert:
    """The upsert on SQLite and MySQL/MariaDB (PostgreSQL: `_POSTGRES_UPSERT`)."""
    table = spend_totals
    if dialect.name == "mysql":
        statement = mysql.insert(table)
        return statement.on_duplicate_key_update(
            {c: table.c[c] + statement.inserted[c] for c in _SUMS}
        )
    statement = sqlite.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key],
        set_={c: table.c[c] + statement.excluded[c] for c in _SUMS},
    )


_pk = ", ".join(c.name for c in spend_totals.primary_key)
_POSTGRES_UPSERT = PostgresUnnestInsert(
    spend_totals,
    postgresql.dialect(),
    f"ON CONFLICT ({_pk}) DO UPDATE SET "
    + ", ".join(f"{c} = {spend_totals.name}.{c} + excluded.{c}" for c in _SUMS),
)


def add_totals(connection: Connection, deltas: Deltas) -> None:
    """Add `deltas` (from `totals.tally`) to the totals, in key order, in `connection`'s
    transaction."""
    if not deltas:
        return
    params = [
        {
            "period": period,
            "start_us": start,
            "scope_key": key,
            "end_us": end,
            "tags": tags,
            "provider": provider,
            "model": model,
            "calls": n,
            "cost": cost,
            "unpriced_calls": unpriced,
        }
        for (period, start, key), (end, tags, provider, model, n, cost, unpriced) in sorted(
            deltas.items()
        )
    ]
    if connection.dialect.name == "postgresql":  # one statement, as the ledger's insert
        connection.exec_driver_sql(_POSTGRES_UPSERT.sql, _POSTGRES_UPSERT.params(params))
    else:
        connection.execute(_upsert(connection.dialect), params)


def stored_spec(connection: Connection) -> TotalsSpec | None:
    """The spec the database's totals were built for, None when none were."""
    data = connection.execute(
        select(totals_state.c.spec).where(totals_state.c.name == "spec")
    ).scalar_one_or_none()
    return None if data is None else TotalsSpec.from_json(data)


def _lock_ledger(connection: Connection) -> None:
    """Hold off writers and the nightly job while totals are rebuilt (see `rebuild_totals`)."""
    name = connection.dialect.name
    if name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, from the start
    elif name == "postgresql":
        connection.execute(text("LOCK TABLE llmledger_calls, llmledger_backfill IN SHARE MODE"))
    # MySQL/MariaDB: the rebuild's read below is a locking read (LOCK IN SHARE MODE), which
    # holds InnoDB's next-key locks on every row read and the gap after them.


def rebuild_totals(engine: Engine, spec: TotalsSpec) -> int:
    """Recompute every total of `spec` from the ledger and the backfilled prices, replace the
    totals with them and store `spec`, in one transaction; returns the totals rows written.

    Writers and the nightly job wait while it runs (their inserts are held by a lock on the
    ledger), so the totals are exact. Run it when the spec changes; `ensure_totals` does.

    After `llmledger prune` the ledger lacks the calls before the prune horizon, so a period
    that began before it keeps the total it has (the record of what was spent); only one it
    has no total for yet (a scope, period or zone new to `spec`) is summed from the calls the
    ledger still holds, which lack the pruned ones.
    """
    calendar = Calendar(spec)
    with engine.begin() as connection:
        _lock_ledger(connection)
        query = select(
            calls.c.at_us,
            calls.c.provider,
            calls.c.model,
            calls.c.tags,
            calls.c.cost,
            backfill.c.cost.label("backfilled"),
        ).select_from(calls.outerjoin(backfill, backfill.c.call_id == calls.c.id))
        if connection.dialect.name == "mysql":
            query = query.with_for_update(read=True)
        deltas: Deltas = {}
        result = connection.execute(query, execution_options={"yield_per": _REBUILD_CHUNK})
        for chunk in result.partitions():
            rows = ((r[0], r[1], r[2], r[3], r[4] if r[4] is not None else r[5], 1) for r in chunk)
            for key, delta in tally(calendar, rows).items():
                held = deltas.get(key)
                if held is None:
                    deltas[key] = delta
                else:
                    for i in (4, 5, 6):
                        held[i] += delta[i]
        # Only now, with the ledger read: a writer holding rows of the ledger finishes
        # (adding to the old totals) before the read goes on, so none waits on the totals
        # this transaction would otherwise have locked first (a deadlock on MariaDB).
        horizon = pruned_before_us(connection)
        if horizon is None:
            connection.execute(delete(spend_totals))
        else:
            t = spend_totals
            before = select(t.c.period, t.c.start_us, t.c.scope_key).where(t.c.start_us < horizon)
            for kept in connection.execute(before).all():
                deltas.pop(tuple(kept), None)  # type: ignore[call-overload]
            connection.execute(delete(t).where(t.c.start_us >= horizon))
        add_totals(connection, deltas)
        _store_spec(connection, spec)
    return len(deltas)


def _store_spec(connection: Connection, spec: TotalsSpec) -> None:
    connection.execute(delete(totals_state).where(totals_state.c.name == "spec"))
    connection.execute(
        insert(totals_state).values(
            name="spec", spec=spec.as_json(), updated_at_us=time.time_ns() // 1000
        )
    )


def ensure_totals(engine: Engine, spec: TotalsSpec) -> None:
    """Rebuild the totals unless they were built for `spec` (a writer's first step)."""
    with engine.connect() as connection:
        require_returning(connection.dialect)
        if stored_spec(connection) == spec:
            return
    rebuild_totals(engine, spec)


class TotalsNotSupported(RuntimeError):
    """The database cannot keep spend totals exactly (it lacks INSERT ... RETURNING)."""


def require_returning(dialect: Dialect) -> None:
    """`TotalsNotSupported` unless the (connected) database can keep spend totals: only rows
    actually inserted may count, and INSERT ... RETURNING is what says which. SQLite has it
    since 3.35, MariaDB since 10.5, MySQL not at all."""
    if dialect.name == "sqlite":
        supported = sqlite3.sqlite_version_info >= (3, 35)
    elif dialect.name == "mysql":
        supported = dialect.is_mariadb and dialect.server_version_info >= (10, 5)  # type: ignore[attr-defined]
    else:
        supported = True
    if not supported:
        raise TotalsNotSupported(
            "spend totals need PostgreSQL, SQLite 3.35+ or MariaDB 10.5+ (INSERT ... RETURNING)"
        )


def add_backfilled(connection: Connection, backfilled: Iterable[Mapping[str, int]]) -> None:
    """Add prices backfilled for unpriced calls (`llmledger_backfill` rows being inserted in
    `connection`'s transaction) to the totals the database keeps, if it keeps any."""
    spec = stored_spec(connection)
    cost_of = {b["call_id"]: b["cost"] for b in backfilled}
    if spec is None or not cost_of:
        return
    query = select(calls.c.id, calls.c.at_us, calls.c.provider, calls.c.model, calls.c.tags)
    rows = connection.execute(query.where(calls.c.id.in_(list(cost_of)))).all()
    changes = ((r.at_us, r.provider, r.model, r.tags, cost_of[r.id], 0) for r in rows)
    add_totals(connection, tally(Calendar(spec), changes))


def read_totals(
    connection: Connection,
    spec: TotalsSpec,
    scopes: Iterable[Scope],
    at: dt.datetime | None = None,
) -> dict[Scope, dict[str, Total]]:
    """The spend of each of `scopes` in each of `spec`'s periods containing `at` (now by
    default): ``{scope: {"day": Total, "month": Total}}``, zeros where nothing was spent.

    One read by primary key, whatever the size of the ledger. A scope `spec` does not keep
    raises ValueError, rather than reading as zero.
    """
    scopes = list(dict.fromkeys(scopes))
    for scope in scopes:
        if not spec.keeps(scope):
            raise ValueError(f"read_totals: {scope} is not kept by {spec}")
    at_us = (at or dt.datetime.now(dt.UTC)) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    periods = Calendar(spec).periods(at_us // dt.timedelta(microseconds=1))
    by_key = {scope.key: scope for scope in scopes}
    out: dict[Scope, dict[str, Total]] = {s: {p: Total() for p, _, _ in periods} for s in scopes}
    if not scopes:
        return out
    t = spend_totals
    query = select(t.c.period, t.c.scope_key, *(t.c[c] for c in _SUMS)).where(
        or_(*(and_(t.c.period == p, t.c.start_us == start) for p, start, _ in periods)),
        t.c.scope_key.in_(list(by_key)),
    )
    for period, key, n, cost, unpriced in connection.execute(query):
        out[by_key[key]][period] = Total(int(n), int(cost), int(unpriced))
    return out
