"""One rollup or re-pricing asked of a database, resolved once: what the planner plans.

`rollup(engine, ...)` and `reprice(engine, ..., by=...)` each build one `Request`: the output
keys in order, the tags to read, the window in microseconds, the `where` filters, the pricer
(with its what-if) and which latency columns the caller wants. Every source the planner reads
(the daily rollup table, the archive, the ledger's rows) takes its reading from here, so none
of them resolves `by` again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String

from ..pricing import Pricer
from ..store.schema import BUCKETS, LEDGER_COLUMNS, calls
from .frame import TIME_UNITS
from .source import Query

__all__ = ["LATENCY", "Request"]

LATENCY = ("percentiles", "mean")
"""What `rollup(..., latency=...)` takes: `percentiles` (mean, p50, p95, max: needs every
call's latency) or `mean` (mean and max only: sums that the daily rollup table keeps)."""

_SUMMED = (*BUCKETS, "cost", "latency_ms")
_PRICING = ("at_us", "provider", "model", "pricing_mode")
_MODEL_KEYS = frozenset({"provider", "model", "pricing_mode"})
"""The keys of the daily tables other than the day and the tags."""
_TEXT_COLUMNS = frozenset(c for c in LEDGER_COLUMNS if isinstance(calls.c[c].type, String))


@dataclass(frozen=True)
class Request:
    """A rollup (or, with `what_if`, a re-pricing by groups) of a database's calls."""

    by: tuple[str, ...]
    bucket: str | None = None
    tz: str = "UTC"
    where: Mapping[str, str | None] = field(default_factory=dict)
    since_us: int | None = None
    until_us: int | None = None
    pricer: Pricer | None = None
    """The catalog to re-price with, already resolved (None: no re-pricing)."""
    what_if: tuple[str | None, str | None] | None = None
    """`(as_mode, as_model)` for `reprice()`; None for `rollup()`."""
    percentiles: bool = True
    """Whether the result has `latency_ms_p50` and `_p95` (else the latency mean and max)."""

    @property
    def keys(self) -> list[str]:
        """The result's key columns, in order: the time bucket first, then `by`."""
        keys = list(self.by)
        if self.bucket is not None and self.bucket not in keys:
            keys.insert(0, self.bucket)
        return keys

    @property
    def time_keys(self) -> list[str]:
        return [k for k in self.keys if k in TIME_UNITS]

    @property
    def tags(self) -> list[str]:
        """The tag keys among the result's keys (the tags a read of calls must extract)."""
        return [k for k in self.keys if k not in LEDGER_COLUMNS and k not in TIME_UNITS]

    @property
    def named(self) -> list[str]:
        """Every column or tag the request names: its non-time keys and its `where` keys."""
        return [k for k in dict.fromkeys([*self.keys, *self.where]) if k not in TIME_UNITS]

    def needs_rows(self) -> str | None:
        """Why only the calls one by one can answer (None: sums per group suffice)."""
        if self.pricer is not None:
            return "re-pricing prices each call"
        if self.percentiles:
            return "latency percentiles need every call's latency"
        if self.time_keys and self.tz != "UTC":
            return f"time buckets in {self.tz} (sums are kept per UTC day)"
        numeric = [k for k in self.named if k in LEDGER_COLUMNS and k not in _TEXT_COLUMNS]
        if numeric:
            return f"grouping or filtering by the number column {numeric[0]}"
        return None

    @property
    def untagged(self) -> bool:
        """Whether the request names no tag, so the daily models table (the daily rollup
        summed over its tags) holds its keys."""
        return all(k in _MODEL_KEYS for k in self.named)

    def daily_refusal(self, tag_keys: Sequence[str]) -> str | None:
        """Why the daily rollup table (grouped by `tag_keys`) cannot answer (None: it can)."""
        if "hour" in self.time_keys:
            return "hour buckets (the table keeps UTC days)"
        kept = {*_MODEL_KEYS, *tag_keys}
        missing = [k for k in self.named if k not in kept]
        if missing:
            return f"{missing[0]!r} is not a key of the daily rollup table"
        return None

    def query(
        self, extra: Sequence[str] = (), window: tuple[int | None, int | None] | None = None
    ) -> Query:
        """What a read of calls one by one reads for this request: `extra` SQL conditions
        (the planner's part of the window) and `window` (default: the request's)."""
        # at_us always: the frame layer takes it as the ledger's time column.
        columns = [*(_PRICING if self.pricer is not None else ("at_us",)), *_SUMMED]
        columns += [k for k in self.keys if k in LEDGER_COLUMNS and k not in columns]
        since_us, until_us = (self.since_us, self.until_us) if window is None else window
        return Query(
            columns=columns,
            tags=self.tags,
            since_us=since_us,
            until_us=until_us,
            where=dict(self.where),
            extra=tuple(extra),
        )

    def describe(self) -> dict[str, Any]:
        """The request in a few words, for `explain`."""
        return {
            "keys": self.keys,
            "tz": self.tz,
            "where": dict(self.where),
            "latency": "percentiles" if self.percentiles else "mean",
            "reprice": self.pricer is not None,
        }
