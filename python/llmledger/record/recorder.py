"""From usage to a ledger row: validate, tag, price, and hand to the background writer.

`track()` is the public, validating entry point: bad input raises where the user called it,
naming the field (the limits are in `llmledger.record.limits`). `ledger_row()` is what
capture uses, on the writer thread, with values from the wire: it never refuses them, it makes
them storable (`limits.storable`), and capture contains and counts anything it raises
(`llmledger.capture.sink`), so the app's call is never affected.
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
from ..budgets.preflight import after_call
from ..config import State, state
from ..pricing import Priced, Pricer
from ..store.schema import BUCKETS, COST_COLUMNS
from . import notices
from .call import Call, Quote
from .hooks import Announce
from .limits import (
    MAX_LATENCY_MS,
    MAX_TOKENS_PER_BUCKET,
    MODEL_LENGTH,
    PRICING_MODE_LENGTH,
    PROVIDER_LENGTH,
    RESPONSE_ID_LENGTH,
    checked_text,
    storable,
)

__all__ = ["ledger_row", "new_event_id", "quote", "track"]

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
        if type(value) is not int or not 0 <= value <= MAX_TOKENS_PER_BUCKET:
            # Slow path: an int subclass (an IntEnum member) counts as its int value.
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            if value > MAX_TOKENS_PER_BUCKET:
                raise ValueError(
                    f"{name} is {value:,}; a bucket holds at most {MAX_TOKENS_PER_BUCKET:,} tokens"
                )
            value = int(value)
        out[index] = value
    return tuple(out)


def _timestamp(at: dt.datetime | None) -> tuple[dt.datetime, int]:
    if at is None:
        ts_us = time.time_ns() // 1000
        return _EPOCH + dt.timedelta(microseconds=ts_us), ts_us
    if not isinstance(at, dt.datetime):
        raise TypeError(f"at must be a datetime, got {type(at).__name__}")
    try:
        at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
    except OverflowError:  # an aware time whose UTC equivalent falls outside years 1-9999
        raise ValueError(f"at must be from {_EPOCH.date()} UTC on, got {at.isoformat()}") from None
    ts_us = (at - _EPOCH) // _US
    # The event id counts milliseconds since the epoch in 12 hex digits: every time up to the
    # year 9999 fits, none before the epoch does.
    if ts_us < 0:
        raise ValueError(f"at must be from {_EPOCH.date()} UTC on, got {at.isoformat()}")
    return at, ts_us


def _latency(latency_ms: float | None) -> float | None:
    if latency_ms is None:
        return None
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float):
        raise TypeError(f"latency_ms must be a number or None, got {type(latency_ms).__name__}")
    if not 0 <= latency_ms <= MAX_LATENCY_MS:  # NaN fails both comparisons
        raise ValueError(f"latency_ms must be between 0 and {MAX_LATENCY_MS:g}, got {latency_ms!r}")
    return float(latency_ms)


def _provider(pricer: Pricer, provider: str) -> str:
    """The provider id a row stores (the catalog's, else the name lower-cased), checked."""
    if not isinstance(provider, str):
        raise TypeError(f"provider must be a string, got {type(provider).__name__}")
    return checked_text("provider", pricer.provider_id(provider), PROVIDER_LENGTH)


def _price(
    pricer: Pricer, provider: str, model: str, ts_us: int, mode: str, tokens: tuple[int, ...]
) -> Priced | None:
    if mode != "standard" and pricer.mode_index(mode) is None:
        notices.unknown_mode(pricer, mode)
    resolution = pricer.resolve(provider, model)
    if resolution is None:
        notices.unpriced(pricer, provider, model)
        return None
    return pricer.price(resolution, ts_us, mode, tokens)


# A private generator, seeded from the OS and reseeded in forked children, so ids never repeat
# across processes and an app's own `random.seed()` cannot make them collide. Not os.urandom
# per call: that syscall releases the GIL, and taking it back from the writer thread costs
# the caller tens of microseconds.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def new_event_id(ts_us: int) -> str:
    """A new call's `event_id` for a call made at `ts_us`."""
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
    """Prices usage exactly as `track()` would, without recording anything. Raises as
    `track()` does on the same arguments."""
    tokens = _tokens(buckets)
    at, ts_us = _timestamp(at)
    mode = checked_text("pricing_mode", pricing_mode, PRICING_MODE_LENGTH)
    pricer = state().pricer
    provider = _provider(pricer, provider)
    model = checked_text("model", model, MODEL_LENGTH)
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
    reasoning. Bad input raises here, a ValueError or TypeError naming the field: a bucket
    over `MAX_TOKENS_PER_BUCKET` (10^9); a provider (as stored: the catalog's id, else the
    name lower-cased), model, response id or pricing mode that is empty, longer than its
    column (64, 255, 255, 32 characters) or holds a NUL or a lone surrogate; `at` before
    1970; a latency that is not a number from 0 to 10^12 ms. Tag values are stored as
    strings, cut to 256 characters, NUL and lone surrogates replaced by U+FFFD (see
    `llmledger.tags`). An unknown pricing mode or provider is logged, not refused.

    While recording is off (`configure(enabled=False)`, `LLMLEDGER_ENABLED=0`) the call is
    checked, priced and returned all the same, and nothing is written: no row, no hook.

    Raises `llmledger.BudgetExceeded` after recording the call when it brought a "raise"
    budget to its limit (its own cost for a "call" budget, the period's spend otherwise).
    """
    tokens = _tokens(buckets)
    at_dt, ts_us = _timestamp(at)
    explicit = tagging.clean_explicit(tags)
    mode = checked_text("pricing_mode", pricing_mode, PRICING_MODE_LENGTH)
    latency = _latency(latency_ms)
    if provider_response_id is not None:
        checked_text("provider_response_id", provider_response_id, RESPONSE_ID_LENGTH)
    st = state()
    provider_id = _provider(st.pricer, provider)
    checked_text("model", model, MODEL_LENGTH)
    row, priced = ledger_row(
        st,
        provider_id,
        model,
        tokens,
        ts_us=ts_us,
        pricing_mode=mode,
        usage_source="manual",
        scoped_tags=tagging.snapshot(),
        explicit_tags=explicit,
        latency_ms=latency,
        provider_response_id=provider_response_id,
    )
    call = Call(
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
        latency_ms=latency,
        provider_response_id=provider_response_id,
    )
    writer = st.writer
    if writer is None:  # recording is off
        return call
    if st.on_call is None:
        writer.submit(row)
    else:  # the hook runs on the writer's thread, never this one
        writer.submit_later(Announce(st.on_call, writer, row, call), row=row)
    if st.guard is not None and st.guard.after:
        after_call(st.guard, row)  # raise budgets: the call is recorded, then the app decides
    return call


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
    event_id: str | None = None,
) -> tuple[dict[str, Any], Priced | None]:
    """Prices and tags one call (`tokens` in bucket order): the ledger row, and the price it
    got. `scoped_tags` is `tagging.snapshot()` taken when the call started. Capture builds its
    rows with this on the writer thread, off the app's path.

    Text from the wire is made storable rather than refused (`limits.storable`): provider,
    model, pricing mode and response id are cut to their columns' sizes, NUL characters and
    lone surrogates replaced by U+FFFD. What `track()` passes has been checked already and
    comes through unchanged. `event_id`: the id given to the call before it was sent (a
    budget reservation is held under it), else a new one.
    """
    pricer = st.pricer
    provider = storable(pricer.provider_id(provider), PROVIDER_LENGTH)
    model = storable(model, MODEL_LENGTH)
    pricing_mode = storable(pricing_mode, PRICING_MODE_LENGTH)
    if provider_response_id is not None:
        provider_response_id = storable(provider_response_id, RESPONSE_ID_LENGTH)
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
                event_id or new_event_id(ts_us),
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
