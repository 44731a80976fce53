"""An independent reference for the analytics kernels, in plain Python: a dict per group,
exact integer sums, `Pricer.price` per call, zoneinfo for time buckets."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from llmledger import BUCKETS
from llmledger.pricing import Pricer

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000


def us(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def at(ts_us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=ts_us)


def zone(tz: str) -> dt.tzinfo:
    if tz == "UTC":
        return UTC
    if tz[0] in "+-":
        sign = 1 if tz[0] == "+" else -1
        hours, minutes = map(int, tz[1:].split(":"))
        return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    return ZoneInfo(tz)


def bucket_start(ts_us: int, unit: str, tz: str) -> int:
    local = at(ts_us).astimezone(zone(tz))
    if unit == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif unit == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return us(start.astimezone(UTC))


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    if pos == lo:
        return values[lo]
    return values[lo] + (values[lo + 1] - values[lo]) * (pos - lo)


def repriced(pricer: Pricer, row: dict[str, Any], as_mode: str | None = None) -> int | None:
    resolution = pricer.resolve(row["provider"], row["model"])
    if resolution is None:
        return None
    tokens = tuple(row[b] for b in BUCKETS)
    priced = pricer.price(resolution, us(row["at"]), as_mode or row["pricing_mode"], tokens)
    return None if priced is None else priced.total


def pico(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd.scaleb(12))


def rollup(
    frame: pl.DataFrame,
    by: Sequence[str],
    tz: str = "UTC",
    where: dict[str, str | None] | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    pricer: Pricer | None = None,
) -> dict[tuple, dict[str, Any]]:
    """Group key tuple -> sums, like the kernel's output rows."""
    groups: dict[tuple, dict[str, Any]] = {}
    for row in frame.to_dicts():

        def value(k: str, row: dict[str, Any] = row) -> Any:
            return row[k] if k in row and k != "tags" else (row.get("tags") or {}).get(k)

        ts = us(row["at"])
        if (since_us is not None and ts < since_us) or (until_us is not None and ts >= until_us):
            continue
        if any(value(k) != v for k, v in (where or {}).items()):
            continue
        key = tuple(
            at(bucket_start(ts, k, tz)) if k in ("hour", "day", "month") else value(k) for k in by
        )
        g = groups.setdefault(
            key,
            {"calls": 0, "unpriced": 0, "cost": 0, "priced": 0, **dict.fromkeys(BUCKETS, 0)}
            | {"repriced": 0, "repriced_unpriced": 0, "latencies": []},
        )
        g["calls"] += 1
        cost = pico(row["cost"])
        if cost is None:
            g["unpriced"] += 1
        else:
            g["cost"] += cost
        for b in BUCKETS:
            g[b] += row[b]
        if pricer is not None:
            r = repriced(pricer, row)
            if r is None:
                g["repriced_unpriced"] += 1
            else:
                g["repriced"] += r
        if row["latency_ms"] is not None:
            g["latencies"].append(row["latency_ms"])
    return groups
