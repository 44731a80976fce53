"""Sums per group computed by the database itself: from the daily rollup table, or a GROUP BY
pushed down to the ledger. Only for requests that need no call one by one (`Request.needs_rows`
is None): counts, money and token sums, and the latency sum, count and max.

Each function returns a part in the planner's sums shape (`merge.SUMS`): the request's keys,
then `calls`, `unpriced_calls`, `cost` and `backfilled_cost` (Decimal USD), the token sums,
`latency_ms_sum`, `latency_calls`, `latency_ms_max`. Money is summed exactly: PostgreSQL and
MySQL sum BIGINT into NUMERIC/DECIMAL, while SQLite's integer SUM stops with an overflow error
past 2^63 pico-USD (9.2 million USD), so on SQLite each amount is summed as two halves (its
quotient and remainder by 10^9), each far from overflowing, and put together here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection

from ..store.filters import conditions, literal, tag_sql
from ..store.schema import BUCKETS
from .frame import TIME_UNITS
from .merge import money
from .request import Request

__all__ = ["daily_sums", "daily_tag_sql", "ledger_sums"]

DAY_US = 86_400_000_000
_UNIT_US = {"hour": 3_600_000_000, "day": DAY_US, "month": DAY_US}  # months: from days
_HALF = 10**9
_EPOCH = dt.date(1970, 1, 1)


def daily_tag_sql(dialect: str, key: str) -> str:
    """A tag's value in `llmledger_daily_rollup.tags`, NULL when the group lacks it. The job
    stores a missing tag as JSON null, which MySQL/MariaDB unquote to the text 'null'."""
    expr = tag_sql(dialect, key)
    if dialect != "mysql":
        return expr
    path = literal("$." + json.dumps(key), dialect)
    return f"(CASE WHEN JSON_TYPE(JSON_EXTRACT(tags, {path})) = 'NULL' THEN NULL ELSE {expr} END)"


def _money_sql(dialect: str, column: str, name: str) -> list[str]:
    if dialect != "sqlite":
        return [f"SUM({column}) AS {name}"]
    return [f"SUM({column} / {_HALF}) AS {name}_hi", f"SUM({column} % {_HALF}) AS {name}_lo"]


def _money_names(dialect: str, name: str) -> list[str]:
    return [name] if dialect != "sqlite" else [f"{name}_hi", f"{name}_lo"]


def _money_column(dialect: str, name: str) -> pl.Expr:
    """A money sum in pico-USD as Int128, put together from its halves on SQLite."""
    if dialect != "sqlite":
        return pl.col(name).cast(pl.Int128).fill_null(0)
    hi, lo = (pl.col(f"{name}_{h}").cast(pl.Int128).fill_null(0) for h in ("hi", "lo"))
    return hi * _HALF + lo


def _count(dialect: str, column: str) -> str:
    """A sum of counts (calls, tokens: far below 2^63) as a BIGINT, not the NUMERIC/DECIMAL
    PostgreSQL and MySQL make of it, whose Decimal values cost more to convert than to sum."""
    if dialect == "sqlite":
        return f"SUM({column})"
    return f"CAST(SUM({column}) AS {'SIGNED' if dialect == 'mysql' else 'BIGINT'})"


def _divide(dialect: str, column: str, unit_us: int) -> str:
    return f"{column} DIV {unit_us}" if dialect == "mysql" else f"{column} / {unit_us}"


def ledger_sums(
    connection: Connection,
    request: Request,
    extra: Sequence[str],
    backfilled: bool,
    windowed: bool = True,
) -> pl.DataFrame:
    """The request's sums over the calls of its window that meet `extra` too, grouped by the
    database (`backfilled`: join the backfill's costs, when it priced a call of the window).
    `windowed=False`: `extra` alone bounds the calls' time (see `sql._part`)."""
    dialect = connection.dialect.name
    keys = []
    for key in request.keys:
        if key in TIME_UNITS:
            keys.append(_divide(dialect, "at_us", _UNIT_US[key]))
        else:
            keys.append(key if key not in request.tags else tag_sql(dialect, key))
    later = "backfilled_cost" if backfilled else "NULL"
    measures = [
        "COUNT(*)",
        _count(dialect, f"CASE WHEN cost IS NULL AND {later} IS NULL THEN 1 ELSE 0 END"),
        *_money_sql(dialect, "cost", "cost"),
        *(_money_sql(dialect, "backfilled_cost", "later") if backfilled else ["0"]),
        *(_count(dialect, b) for b in BUCKETS),
        "SUM(latency_ms)",
        "COUNT(latency_ms)",
        "MAX(latency_ms)",
    ]
    sql = f"SELECT {', '.join([*keys, *measures])} FROM llmledger_calls"
    if backfilled:
        sql += (
            " LEFT JOIN (SELECT call_id, cost AS backfilled_cost FROM llmledger_backfill) b"
            " ON b.call_id = llmledger_calls.id"
        )
    since_us, until_us = (request.since_us, request.until_us) if windowed else (None, None)
    found = [*extra, *conditions(dialect, since_us, until_us, request.where, narrowed=bool(extra))]
    if found:
        sql += " WHERE " + " AND ".join(found)
    if keys:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(keys)))
    rows = connection.exec_driver_sql(sql).fetchall()
    return _frame(dialect, request, rows, later_money=backfilled)


def daily_sums(
    connection: Connection,
    request: Request,
    days: Sequence[tuple[int, int]],
    models: bool = False,
):
    """The request's sums over the daily rollup table's rows of `days` (ranges of UTC day
    numbers, end exclusive), grouped by the database; with `models`, over the daily models
    table's (a request naming no tag)."""
    dialect = connection.dialect.name
    keys = []
    for key in request.keys:
        if key in TIME_UNITS:
            keys.append("day")  # months are made of days below
        elif key in request.tags:
            keys.append(daily_tag_sql(dialect, key))
        else:
            keys.append(key)
    measures = [
        _count(dialect, "calls"),
        _count(dialect, "unpriced_calls"),
        *_money_sql(dialect, "cost", "cost"),
        *_money_sql(dialect, "backfilled_cost", "later"),
        *(_count(dialect, b) for b in BUCKETS),
        "SUM(latency_ms_sum)",
        _count(dialect, "latency_calls"),
        "MAX(latency_ms_max)",
    ]
    ranges = []
    for first, end in days:
        bounds = [f"day >= {_date(first)}"] if first is not None else []
        bounds += [f"day < {_date(end)}"] if end is not None else []
        ranges.append("(" + " AND ".join(bounds or ["1 = 1"]) + ")")
    found = ["(" + " OR ".join(ranges) + ")"]
    found += conditions(dialect, where=request.where, tag=daily_tag_sql)
    table = "llmledger_daily_models" if models else "llmledger_daily_rollup"
    sql = f"SELECT {', '.join([*keys, *measures])} FROM {table}"
    sql += " WHERE " + " AND ".join(found)
    if keys:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(keys)))
    rows = connection.exec_driver_sql(sql).fetchall()
    return _frame(dialect, request, rows, later_money=True, days=True)


def _date(day: int) -> str:
    return "'" + (_EPOCH + dt.timedelta(days=day)).isoformat() + "'"


def _frame(
    dialect: str, request: Request, rows: Sequence[Sequence], *, later_money: bool, days=False
) -> pl.DataFrame:
    """The rows of a grouped query (keys, then the measures in the order above) as sums,
    converted column by column (sums come as int, or Decimal on PostgreSQL and MySQL)."""
    keys = request.keys
    names = ["calls", "unpriced_calls", *_money_names(dialect, "cost")]
    names += _money_names(dialect, "later") if later_money else ["later"]
    names += [*BUCKETS, "latency_ms_sum", "latency_calls", "latency_ms_max"]
    values = list(zip(*rows, strict=True)) or [()] * (len(keys) + len(names))
    # Money sums come as Decimal from PostgreSQL and MySQL: as Python ints they convert to
    # Int128 many times faster than Polars converts Decimal objects.
    measures = pl.DataFrame(
        [
            pl.Series(n, _ints(v) if n in _MONEY else v, strict=False)
            for n, v in zip(names, values[len(keys) :], strict=True)
        ]
    )
    # A query without keys gives one row, with COUNT(*) 0, over no call.
    kept = measures["calls"].cast(pl.Int64).fill_null(0) > 0
    counts = ["calls", "unpriced_calls", *BUCKETS, "latency_calls"]
    measures = measures.select(
        *(pl.col(c).cast(pl.Int64).fill_null(0) for c in counts),
        cost=_money_column(dialect, "cost"),
        later=_money_column(dialect, "later") if later_money else pl.lit(0, pl.Int128),
        latency_ms_sum=pl.col("latency_ms_sum").cast(pl.Float64).fill_null(0.0),
        latency_ms_max=pl.col("latency_ms_max").cast(pl.Float64),
    )
    key_columns = [_key_series(k, list(v), days) for k, v in zip(keys, values, strict=False)]
    frame = measures.with_columns(key_columns) if keys else measures
    frame = frame.filter(kept)
    # A group none of whose calls has a price has no cost (never zero).
    priced = pl.col("calls") > pl.col("unpriced_calls")
    return frame.select(
        *keys,
        "calls",
        "unpriced_calls",
        pl.when(priced).then(money(pl.col("cost") + pl.col("later"))).alias("cost"),
        money(pl.col("later")).alias("backfilled_cost"),
        *BUCKETS,
        "latency_ms_sum",
        "latency_calls",
        "latency_ms_max",
    )


_MONEY = frozenset({"cost", "later"})


def _ints(values: Sequence) -> list[int | None]:
    return [None if v is None else int(v) for v in values]


def _key_series(key: str, values: list, days: bool) -> pl.Series:
    if key not in TIME_UNITS:
        return pl.Series(key, values, dtype=pl.String, strict=False)
    if days:  # dates (SQLite gives their ISO text)
        values = [(dt.date.fromisoformat(v) if isinstance(v, str) else v) for v in values]
        values = [(v - _EPOCH).days for v in values]
    at_us = pl.Series(key, [int(v) * _UNIT_US[key] for v in values], dtype=pl.Int64)
    moment = pl.from_epoch(at_us, "us").dt.replace_time_zone("UTC")
    return moment.dt.truncate("1mo") if key == "month" else moment
