"""Rollups and re-pricing of a ledger already in memory (a Polars frame or Arrow table)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import polars.selectors as cs
import pyarrow as pa

from .. import _core
from ..config import current_pricer
from ..pricing import Pricer, build_pricer, pricer_from_snapshot
from ..store.filters import warn_unknown_tags, window
from ..store.schema import BUCKETS
from .frame import TIME_UNITS, Prepared, call_cost, prepare, repricing
from .pooled import pooled_runs

__all__ = [
    "merge_parts",
    "output_keys",
    "pricer_for",
    "reprice_frame",
    "rollup_frame",
    "same_key_types",
]

Moment = datetime | date | str | None
_MIN_US = -(2**63)
_NO_MONEY = pl.lit(Decimal(0), pl.Decimal(38, 12))


def pricer_for(catalog: Any = "current", overrides: Any = None) -> Pricer:
    """The pricer a re-pricing uses: `"current"` (the configured one, or the catalog plus
    `overrides` when given), a `Pricer`, or a stored snapshot's content (bytes)."""
    if isinstance(catalog, Pricer):
        return catalog
    if isinstance(catalog, bytes):
        return pricer_from_snapshot(catalog)
    if catalog == "current":
        return build_pricer(overrides) if overrides else current_pricer()
    raise ValueError(
        f"catalog {catalog!r}: an in-memory ledger takes 'current', a Pricer or a snapshot's "
        "content; snapshot ids are looked up in a database (pass an engine as the source)"
    )


def output_keys(by: Sequence[str], bucket: str | None) -> list[str]:
    """The key columns of a rollup's result, in order: the time bucket first, then `by`."""
    keys = list(by)
    if bucket is not None and bucket not in keys:
        keys.insert(0, bucket)
    return keys


def rollup_frame(
    source: Any,
    by: Sequence[str] = (),
    since: Moment = None,
    until: Moment = None,
    bucket: str | None = None,
    tz: str = "UTC",
    where: Mapping[str, str | None] | None = None,
    reprice: Any = None,
    *,
    latency_values: bool = False,
    latency_sums: bool = False,
) -> pl.DataFrame:
    """Totals per group of an in-memory ledger (see `llmledger.analytics.rollup`).
    `latency_values`: each group's latencies (`latency_ms_values`) instead of their
    statistics, for a part of a ledger whose results `merge_parts` merges. `latency_sums`:
    their sum, count and maximum (`latency_ms_sum`, `latency_calls`, `latency_ms_max`), for
    a part whose results `merge_sums` merges (no percentiles)."""
    keys = output_keys(by, bucket)
    since_us, until_us = window(since, until)
    where = dict(where or {})
    prepared = prepare(source)
    _warn_absent(prepared, [*keys, *where])
    prepared = prepared.with_keys(keys)
    specs = _key_specs(prepared, keys)
    filters = []
    for key, value in where.items():
        column = prepared.column(key)
        if value is None:
            if column is not None:
                filters.append((column, None))
            continue
        # A tag no row has is null everywhere: no row matches a value; nor does a text that
        # is no number match a number.
        matched = None if column is None else prepared.filter_value(column, value)
        if matched is None:
            until_us = _MIN_US
        else:
            filters.append((column, matched))
    rates = None
    if reprice is not None:
        rates = repricing(prepared, pricer_for("current" if reprice is True else reprice))
    return _rollup(
        prepared,
        specs,
        time_column=prepared.time_column,
        tz=tz,
        since_us=since_us,
        until_us=until_us,
        filters=filters,
        repricing=rates,
        latency_values=latency_values,
        latency_sums=latency_sums,
    )


def _warn_absent(prepared: Prepared, keys: Iterable[str]) -> None:
    """An `UnknownTagWarning` for each key that is neither a column of the frame nor one of
    its tags (a frame holds the tags of its calls: those are the tags of its window)."""
    absent = [k for k in keys if k not in TIME_UNITS and prepared.column(k) is None]
    if absent:
        warn_unknown_tags(absent, prepared.tags)


def _rollup(prepared: Prepared, specs: list[tuple[str, str | None]], **spec: Any) -> pl.DataFrame:
    """The core's rollup of `prepared`, with `backfilled_cost` after `cost`: how much of the
    group's cost the nightly job priced after the calls were recorded unpriced (0 if none).
    That is the same rollup of the backfilled calls alone, which are few."""
    # The core's names (a tag `k` is `tags.k`) until the end: a bare tag key may be `*` or
    # `^...$`, which Polars' `join(on=...)`, `select` and `cast` read as patterns.
    result = pl.DataFrame(prepared.ledger.rollup(specs, **spec))
    keys = result.columns[: len(specs)]
    later = prepared.backfilled
    if later is None:
        result = result.with_columns(_NO_MONEY.alias("backfilled_cost"))
    else:
        # The repricing tables are the whole ledger's; only the cost is read here.
        spec.update(repricing=None, latency_values=False, latency_sums=False)
        part = pl.DataFrame(later.ledger.rollup(specs, **spec))
        part = part.select(*keys, backfilled_cost="cost").cast({k: result.schema[k] for k in keys})
        if keys:
            result = result.join(part, on=keys, how="left", nulls_equal=True, maintain_order="left")
        else:  # a single total
            result = result.with_columns(backfilled_cost=part["backfilled_cost"].first())
        result = result.with_columns(pl.col("backfilled_cost").fill_null(_NO_MONEY))
    columns = result.columns[:-1]
    at = columns.index("cost") + 1
    result = result.select(*columns[:at], "backfilled_cost", *columns[at:])
    return result.rename({c: c.removeprefix("tags.") for c in keys})


def _key_specs(prepared: Prepared, keys: Sequence[str]) -> list[tuple[str, str | None]]:
    """`(column, None)` per column or tag key, `(name, unit)` per time bucket."""
    specs: list[tuple[str, str | None]] = []
    for key in keys:
        if key in TIME_UNITS:
            specs.append((key, key))
            continue
        column = prepared.column(key)
        assert column is not None, "keys added by Prepared.with_keys"
        specs.append((column, None))
    return specs


def reprice_frame(
    source: Any,
    since: Moment = None,
    until: Moment = None,
    catalog: Any = "current",
    as_mode: str | None = None,
    as_model: str | None = None,
    overrides: Any = None,
    by: Sequence[str] | None = None,
    tz: str = "UTC",
    *,
    latency_values: bool = False,
    latency_sums: bool = False,
) -> pl.DataFrame:
    """Recorded versus re-priced cost, per call or per group (see `llmledger.analytics.reprice`).
    `latency_values` and `latency_sums` as for `rollup_frame`, with `by`."""
    since_us, until_us = window(since, until)
    prepared = prepare(source)
    if by is not None:
        _warn_absent(prepared, by)
        prepared = prepared.with_keys(by)
    pricer = pricer_for(catalog, overrides)
    rates = repricing(prepared, pricer, as_mode=as_mode, as_model=as_model)
    if by is not None:
        return _rollup(
            prepared,
            _key_specs(prepared, by),
            time_column=prepared.time_column,
            tz=tz,
            since_us=since_us,
            until_us=until_us,
            repricing=rates,
            latency_values=latency_values,
            latency_sums=latency_sums,
        )
    if prepared.frame is None:
        raise ValueError("re-pricing per call needs the calls themselves; give `by` for totals")
    repriced = pl.DataFrame(prepared.ledger.reprice(rates, time_column=prepared.time_column))
    frame = prepared.frame.hstack(repriced)
    frame = frame.with_columns(
        cost_difference=pl.col("repriced_cost") - call_cost(prepared.frame.columns)
    )
    at = pl.col(prepared.time_column)
    if prepared.time_column == "at":
        at = at.dt.epoch("us")
    if since_us is not None:
        frame = frame.filter(at >= since_us)
    if until_us is not None:
        frame = frame.filter(at < until_us)
    return frame


_COUNTS = ("calls", "unpriced_calls", *BUCKETS)
_VALUES = "latency_ms_values"


def merge_parts(
    parts: Sequence[pl.DataFrame], keys: Sequence[str], *, latency_values: bool = False
) -> pl.DataFrame:
    """One result from the results of rolling up parts of a ledger by `keys`, each made with
    `latency_values=True`: counts and money added per group, latencies pooled (in part order,
    so the statistics are those of one rollup of all the rows), groups in first appearance.
    `latency_values`: the pooled latencies instead of their statistics, a part again."""
    frame = pl.concat(same_key_types(parts, keys))
    repriced = "repriced_cost" in frame.columns
    counts = [*_COUNTS, *(["repriced_unpriced_calls"] if repriced else [])]
    money = ["cost", "backfilled_cost", *(["repriced_cost"] if repriced else [])]
    # Money stays null where every part's is: the core decided which groups were priced.
    sums = [pl.col(c).sum() for c in counts]
    sums += [pl.when(pl.col(c).is_not_null().any()).then(pl.col(c).sum()).alias(c) for c in money]
    # Each group's rows of `frame` (by index, in part order) in place of their latencies.
    rows = pl.int_range(pl.len(), dtype=pl.Int64).alias(_VALUES)
    if keys:
        # By exact name: a key may be a tag named `*` or `^...$`, patterns to `group_by`.
        grouped = frame.with_columns(rows).group_by(cs.by_name(keys), maintain_order=True)
        merged = grouped.agg(*sums, _VALUES)
    else:
        merged = frame.with_columns(rows).select(*sums, pl.col(_VALUES).implode())
    runs = pooled_runs(parts, merged.get_column(_VALUES))
    if repriced:
        merged = merged.with_columns(cost_difference=pl.col("repriced_cost") - pl.col("cost"))
    if latency_values:
        pooled = pl.Series(_VALUES, pa.chunked_array(runs, pa.large_list(pa.float64())))
        merged = merged.with_columns(pooled)
        return merged.select(cs.by_name(*parts[0].columns))
    # Run by run: the core copies the latencies it is given.
    stats = pl.concat(pl.DataFrame(_core.latency_stats(pa.table({_VALUES: r}))) for r in runs)
    columns = [c for c in parts[0].columns if c != "latency_ms_values"]
    return (
        merged.drop("latency_ms_values").hstack(stats).select(cs.by_name(*columns, *stats.columns))
    )


def same_key_types(parts: Sequence[pl.DataFrame], keys: Sequence[str]) -> list[pl.DataFrame]:
    """The parts with each key column of one type: a part where a key is null throughout
    has it as a string column, whatever its type in the others."""
    types = {}
    for key in keys:
        found = {p.schema[key] for p in parts if p.get_column(key).null_count() < p.height}
        if len(found) == 1:
            types[key] = found.pop()
    # Series by exact name: `cast({name: type})` reads names as patterns.
    return [
        p.with_columns(p[k].cast(t) for k, t in types.items() if p.schema[k] != t) for p in parts
    ]
