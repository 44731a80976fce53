"""Analytics: rollups and re-pricing of the ledger by the Rust core, results as Polars frames.

    df = llmledger.analytics.rollup(calls_frame, by=["feature", "tenant"], bucket="day")
    diff = llmledger.analytics.reprice(calls_frame, as_mode="batch", by=["model"])

A source is a frame shaped like `llmledger.calls()` (a Polars DataFrame or LazyFrame, or any
Arrow table / stream), a `Prepared` one (`prepare(frame)`: key columns encoded once, reused by
every call on it), or a database (a SQLAlchemy Engine or URL), read by `sql` with only the
columns and rows needed, or a ledger's archive (a path or an object store's URI of the Delta
table `llmledger reaggregate` writes: `llmledger.archive`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from ..archive.location import is_archive
from .archived import rollup_archive
from .frame import TIME_UNITS, Prepared, prepare
from .memory import Moment, reprice_frame, rollup_frame
from .planner import CallsPruned, Plan
from .request import LATENCY
from .sql import is_database, reprice_engine, rollup_engine

__all__ = [
    "LATENCY",
    "TIME_UNITS",
    "CallsPruned",
    "Plan",
    "Prepared",
    "prepare",
    "reprice",
    "rollup",
]


def rollup(
    source: Any,
    by: Sequence[str] | str = (),
    *,
    since: Moment = None,
    until: Moment = None,
    bucket: str | None = None,
    tz: str = "UTC",
    where: Mapping[str, str | None] | None = None,
    reprice: Any = None,
    latency: str = "percentiles",
    explain: bool = False,
    engine: str = "local",
) -> pl.DataFrame | tuple[pl.DataFrame, Plan]:
    """Totals per group: one row per distinct combination of `by`.

    `by` names columns (`provider`, `model`, `pricing_mode`...), tags (from the `tags` struct;
    rows without the tag group under null, all of them when no row has it) or a time bucket
    (`hour`, `day`, `month`, in `tz`: `"UTC"`, an offset like `"+05:30"` or an IANA zone); one
    name alone is one key, and a name given twice is a `ValueError`. `bucket` (`hour`, `day` or
    `month`) adds a time bucket as the first key. `since` is inclusive, `until` exclusive.
    `where` keeps rows whose column or tag equals the value (compared as text; None keeps
    those without it), as `llmledger.calls()` filters. `reprice` (`True`/`"current"`, a
    `Pricer` or snapshot content) adds the cost under that catalog. `since` at or after
    `until` is a `ValueError`; a tag in `by` or `where` that no call of the window has gives
    an `llmledger.UnknownTagWarning` naming the tags that do exist.

    A call's cost is what was recorded, else what `llmledger reaggregate` priced it at later
    (kept in `llmledger_backfill`; the recorded row is never changed).

    Columns: the keys (named as given), `calls`, `unpriced_calls` (calls with neither),
    `cost` (Decimal USD, exact; null when no call of the group was priced), `backfilled_cost`
    (how much of `cost` the backfill priced; 0 if none), one Int64 sum per token bucket, with
    `reprice` also `repriced_cost`, `repriced_unpriced_calls`, `cost_difference` (re-priced
    minus cost), then `latency_ms_mean`, `_p50`, `_p95` (linear interpolation) and `_max`.
    Rows come in the order of each group's first call among those rolled up; from a database,
    sorted by the keys (nulls last).

    `latency="mean"` leaves out `latency_ms_p50` and `_p95`: from a database, the sums the
    nightly job keeps (`llmledger reaggregate`) can then answer most of the window without
    reading each call (dashboards, budget pages). From a database, `explain=True` returns
    `(result, plan)`: `str(plan)` says which source answered which part of the window (the
    daily rollup table, the archive, the ledger), with the groups and time each took.

    `source` is a frame, a database (an Engine, or a URL such as `sqlite:///ledger.db`), or
    the archive the nightly job writes: a path, or a URI whose scheme is an object store's
    (`s3://`, `gs://`, `az://`, `abfss://`, `file://`...; `llmledger.archive.ARCHIVE_SCHEMES`),
    read alone with no database. A database URL always has a dialect's scheme.

    `engine="ray"` rolls an archive up on Ray (`pip install 'llmledger[ray]'`; the
    application's `ray.init()` if it made one, else `ray.init()`: `RAY_ADDRESS` or a local
    instance), one task per archive file, with the same result row for row
    (`llmledger.analytics.on_ray`). Other sources take only `engine="local"`.
    """
    by = _keys(by)
    if bucket is not None and bucket not in TIME_UNITS:
        raise ValueError(f"bucket must be one of {', '.join(TIME_UNITS)}, not {bucket!r}")
    if latency not in LATENCY:
        raise ValueError(f"latency must be one of {', '.join(LATENCY)}, not {latency!r}")
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")
    archive = is_archive(source)
    if engine == "ray" and not archive:
        raise ValueError(
            "engine='ray' rolls up a ledger's archive: give its path or URI as the source "
            "(`llmledger reaggregate` writes it)"
        )
    if is_database(source) and not archive:
        return rollup_engine(
            source, by, since, until, bucket, tz, where, reprice, latency=latency, explain=explain
        )
    if explain:
        raise ValueError("explain=True tells which source answered: for a database only")
    if engine == "ray":
        from .on_ray import rollup_archive_on_ray  # imports ray

        result = rollup_archive_on_ray(str(source), by, since, until, bucket, tz, where, reprice)
    elif archive:
        result = rollup_archive(
            str(source), by, since, until, bucket, tz, where, reprice, latency=latency
        )
    else:
        result = rollup_frame(source, by, since, until, bucket, tz, where, reprice)
    if latency == "percentiles":
        return result
    # An archive rolled up in parts gives none (it kept no percentiles to drop).
    return result.drop("latency_ms_p50", "latency_ms_p95", strict=False)


def reprice(
    source: Any,
    *,
    since: Moment = None,
    until: Moment = None,
    catalog: Any = "current",
    as_mode: str | None = None,
    as_model: str | None = None,
    overrides: Any = None,
    by: Sequence[str] | str | None = None,
    tz: str = "UTC",
) -> pl.DataFrame:
    """Recorded versus re-priced cost; recorded costs are never changed.

    Re-prices every call against `catalog` (`"current"`, a `Pricer` or a stored snapshot's
    content; with `overrides`, the catalog plus those overrides), optionally as if it had
    used pricing mode `as_mode` (`standard` or a mode of the catalog, else a `ValueError`),
    or as if it had been made to `as_model`, named with its provider (`"openai/gpt-4o-mini"`):
    every call, whoever served it, priced as that provider's model. A bare model name is a
    `ValueError` listing the providers that price it, and so is a model no provider prices.
    Calls whose model has no price come out with a null `repriced_cost`, never zero. Without
    `by`: the calls with `repriced_cost` and `cost_difference` (re-priced minus the recorded,
    else backfilled, cost) added; with `by`: a rollup (see `rollup`), its time buckets in
    `tz`.
    """
    if by is not None:
        by = _keys(by)
    if is_database(source):
        return reprice_engine(source, since, until, catalog, as_mode, as_model, overrides, by, tz)
    return reprice_frame(source, since, until, catalog, as_mode, as_model, overrides, by, tz)


def _keys(by: Sequence[str] | str) -> list[str]:
    """`by` as a list: one name alone is one key (not its letters), and a key named twice is an
    error rather than a result with two columns of one name."""
    keys = [by] if isinstance(by, str) else list(by)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"by names columns, tags or time units as strings, not {key!r}")
    twice = [k for k in dict.fromkeys(keys) if keys.count(k) > 1]
    if twice:
        raise ValueError(f"by names {', '.join(map(repr, twice))} more than once")
    return keys
