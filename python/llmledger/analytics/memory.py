"""Rollups and re-pricing of a ledger already in memory (a Polars frame or Arrow table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from ..pricing import Pricer, build_pricer, current_pricer, pricer_from_snapshot
from ..store.read import to_us
from .frame import TIME_UNITS, Prepared, prepare, repricing

__all__ = ["pricer_for", "reprice_frame", "rollup_frame"]

Moment = datetime | date | str | None
_MIN_US = -(2**63)


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


def _keys(by: Sequence[str], bucket: str | None) -> list[str]:
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
) -> pl.DataFrame:
    """Totals per group of an in-memory ledger (see `llmledger.analytics.rollup`)."""
    prepared = prepare(source)
    keys = _key_specs(prepared, _keys(by, bucket))
    since_us = None if since is None else to_us(since)
    until_us = None if until is None else to_us(until)
    filters = []
    for key, value in (where or {}).items():
        column = prepared.column(key)
        if column is not None:
            filters.append((column, value))
        elif value is not None:
            # A tag no row has is null everywhere: no row matches a value.
            until_us = _MIN_US
    rates = None
    if reprice is not None:
        rates = repricing(prepared, pricer_for("current" if reprice is True else reprice))
    result = prepared.ledger.rollup(
        keys,
        time_column=prepared.time_column,
        tz=tz,
        since_us=since_us,
        until_us=until_us,
        filters=filters,
        repricing=rates,
    )
    return _frame(result)


def _key_specs(prepared: Prepared, keys: Sequence[str]) -> list[tuple[str, str | None]]:
    """`(column, None)` per column or tag key, `(name, unit)` per time bucket."""
    specs: list[tuple[str, str | None]] = []
    for key in keys:
        if key in TIME_UNITS:
            specs.append((key, key))
            continue
        column = prepared.column(key)
        if column is None:
            raise KeyError(f"{key!r} is neither a column of the ledger nor a tag any row has")
        specs.append((column, None))
    return specs


def _frame(result: Any) -> pl.DataFrame:
    frame = pl.DataFrame(result)
    return frame.rename({c: c.removeprefix("tags.") for c in frame.columns})


def reprice_frame(
    source: Any,
    since: Moment = None,
    until: Moment = None,
    catalog: Any = "current",
    as_mode: str | None = None,
    as_model: str | None = None,
    overrides: Any = None,
    by: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Recorded versus re-priced cost, per call or per group (see `llmledger.analytics.reprice`)."""
    prepared = prepare(source)
    pricer = pricer_for(catalog, overrides)
    rates = repricing(prepared, pricer, as_mode=as_mode, as_model=as_model)
    if by is not None:
        result = prepared.ledger.rollup(
            _key_specs(prepared, by),
            time_column=prepared.time_column,
            since_us=None if since is None else to_us(since),
            until_us=None if until is None else to_us(until),
            repricing=rates,
        )
        return _frame(result)
    repriced = pl.DataFrame(prepared.ledger.reprice(rates, time_column=prepared.time_column))
    frame = prepared.frame.hstack(repriced).with_columns(
        cost_difference=pl.col("repriced_cost") - pl.col("cost")
    )
    at = pl.col(prepared.time_column)
    if prepared.time_column == "at":
        at = at.dt.epoch("us")
    if since is not None:
        frame = frame.filter(at >= to_us(since))
    if until is not None:
        frame = frame.filter(at < to_us(until))
    return frame
