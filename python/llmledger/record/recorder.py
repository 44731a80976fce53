"""From usage to a ledger row: validate, tag, price, and hand to the background writer.

`track()` is the public, validating entry point: bad input raises where the user called it.
`ledger_row()` is what capture uses, with input it has already normalised, on the writer
thread; capture contains and counts anything it raises (`llmledger.capture.sink`), so the
app's call is never affected.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .. import tagging
from ..config import State, state
from ..pricing import Priced, Pricer
from ..store.schema import BUCKETS, COST_COLUMNS
from .call import Call, Quote

__all__ = ["ledger_row", "quote", "track"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

_BUCKET_INDEX = {name: i for i, name in enumerate(BUCKETS)}


def _tokens(buckets: Mapping[str, Any]) -> tuple[int, ...]:
    """The 8 buckets in canonical order; ValueError naming the first bad field."""
    out = [0] * len(BUCKETS)
    for name, value in buckets.items():
        index = _BUCKET_INDEX.get(name)
        if index is None:
            raise TypeError(f"unknown token bucket {name!r}; the buckets are {', '.join(BUCKETS)}")
        if type(value) is not int or value < 0:
            # Slow path: an int subclass (an IntEnum member) counts as its int value.
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            value = int(value)
        out[index] = value
    return tuple(out)


def _timestamp(at: dt.datetime | None) -> tuple[dt.datetime, int]:
    if at is None:
        ts_us = time.time_ns() // 1000
        return _EPOCH + dt.timedelta(microseconds=ts_us), ts_us
    if not isinstance(at, dt.datetime):
        raise TypeError(f"at must be a datetime, got {type(at).__name__}")
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
    return at, (at - _EPOCH) // _US


def _mode(pricing_mode: str) -> str:
    if not isinstance(pricing_mode, str) or not pricing_mode or len(pricing_mode) > 32:
        raise ValueError(f"pricing_mode must be a short non-empty string, got {pricing_mode!r}")
    return pricing_mode


def _price(
    pricer: Pricer, provider: str, model: str, ts_us: int, mode: str, tokens: tuple[int, ...]
):
    resolution = pricer.resolve(provider, model)
    if resolution is None:
        return None
    return pricer.price(resolution, ts_us, mode, tokens)


# A private generator, seeded from the OS and reseeded in forked children, so ids never repeat
# across processes and an app's own `random.seed()` cannot make them collide. Not os.urandom
# per call: that syscall releases the GIL, and taking it back from the writer thread costs
# the caller tens of microseconds.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def _event_id(ts_us: int) -> str:
    # Time-ordered (48-bit milliseconds, then 80 random bits): inserts stay append-only in
    # B-tree indexes.
    return f"{ts_us // 1000:012x}{_ids.getrandbits(80):020x}"


def quote(
    provider: str,
    model: str,
    *,
    at: dt.datetime | None = None,
    pricing_mode: str = "standard",
    **buckets: int,
) -> Quote:
    """Prices usage exactly as `track()` would, without recording anything."""
    tokens = _tokens(buckets)
    at, ts_us = _timestamp(at)
    mode = _mode(pricing_mode)
    pricer = state().pricer
    provider = pricer.provider_id(provider)
    priced = _price(pricer, provider, model, ts_us, mode, tokens)
    return Quote(provider, model, at, mode, tokens, priced)


def track(
    provider: str,
    model: str,
    *,
    pricing_mode: str = "standard",
    at: dt.datetime | None = None,
    latency_ms: float | None = None,
    provider_response_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    **buckets: int,
) -> Call:
    """Records one call from its token buckets and returns it, priced and tagged.

    Returns without waiting on the database: the row goes to a background writer. Buckets are
    disjoint (see the README): `input_tokens` excludes cached input, `output_tokens` excludes
    reasoning. Bad input raises here (ValueError / TypeError naming the field).
    """
    if not isinstance(provider, str) or not provider:
        raise ValueError(f"provider must be a non-empty string, got {provider!r}")
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    tokens = _tokens(buckets)
    at_dt, ts_us = _timestamp(at)
    explicit = tagging.clean_explicit(tags)
    mode = _mode(pricing_mode)
    st = state()
    row, priced = ledger_row(
        st,
        provider,
        model,
        tokens,
        ts_us=ts_us,
        pricing_mode=mode,
        usage_source="manual",
        scoped_tags=tagging.snapshot(),
        explicit_tags=explicit,
        latency_ms=latency_ms,
        provider_response_id=provider_response_id,
    )
    st.writer.submit(row)
    return Call(
        row["provider"],
        model,
        at_dt,
        mode,
        tokens,
        priced,
        event_id=row["event_id"],
        tags=MappingProxyType(row["tags"]),
        usage_source="manual",
        status="ok",
        http_status=None,
        latency_ms=latency_ms,
        provider_response_id=provider_response_id,
    )


_ROW_KEYS = (
    "event_id",
    "at_us",
    "provider",
    "model",
    *BUCKETS,
    "cost",
    *COST_COLUMNS,
    "pricing_mode",
    "usage_source",
    "status",
    "http_status",
    "latency_ms",
    "provider_response_id",
    "price_snapshot_id",
    "price_source",
    "price_provider",
    "price_model",
    "price_version",
    "price_variant",
    "price_tier",
    "tags",
    "raw_usage",
)
_NO_RULE = (None,) * 7
_UNPRICED = (None,) * (1 + len(COST_COLUMNS)) + _NO_RULE
# An error response is not billed: zero cost, by no price rule.
_FAILED = Priced((0,) * len(BUCKETS), 0, 0, None, -1)


def ledger_row(
    st: State,
    provider: str,
    model: str,
    tokens: tuple[int, ...],
    *,
    ts_us: int,
    pricing_mode: str,
    usage_source: str,
    scoped_tags: dict[str, str],
    explicit_tags: Mapping[str, str] | None = None,
    latency_ms: float | None = None,
    provider_response_id: str | None = None,
    http_status: int | None = None,
    status: str = "ok",
    raw_usage: Any = None,
) -> tuple[dict[str, Any], Priced | None]:
    """Prices and tags one call whose input is already valid (`tokens` in bucket order): the
    ledger row, and the price it got. `scoped_tags` is `tagging.snapshot()` taken when the call
    started. Capture builds its rows with this on the writer thread, off the app's path."""
    pricer = st.pricer
    provider = pricer.provider_id(provider)
    if status == "error":
        priced = _FAILED
    else:  # ok, or a stream cut short: the provider bills the tokens it reported
        priced = _price(pricer, provider, model, ts_us, pricing_mode, tokens)
    if st.default_tags is None and not explicit_tags:
        call_tags = scoped_tags  # the scope's own dict, never mutated: no copy needed
    else:
        defaults = tagging.resolve_defaults(st.default_tags)
        call_tags = tagging.merge(defaults, scoped_tags, explicit_tags or {})
    if priced is None:
        money_and_rule = _UNPRICED
    else:
        rule = _NO_RULE if priced.rule is None else priced.rule.columns()
        money_and_rule = (priced.total, *priced.costs, priced.request_fee, *rule)
    row = dict(
        zip(
            _ROW_KEYS,
            (
                _event_id(ts_us),
                ts_us,
                provider,
                model,
                *tokens,
                *money_and_rule[: 1 + len(COST_COLUMNS)],
                pricing_mode,
                usage_source,
                status,
                http_status,
                latency_ms,
                provider_response_id,
                *money_and_rule[1 + len(COST_COLUMNS) :],
                call_tags,
                raw_usage,
            ),
            strict=True,
        )
    )
    return row, priced
