"""Spend totals per period and scope, kept as ledger rows are written: what budgets read.

A `TotalsSpec` says which totals are kept: calendar periods (day, ISO week from Monday,
month) in one IANA time zone, for the whole app and for each configured tag key (or group of
tag keys, for a budget per tenant within one feature), each optionally narrowed to a provider
and to a provider's model. A `Scope` names one such total ("tenant=acme", or the whole app).

One row of `llmledger_spend_totals` per (period, period start, scope): the calls, their
priced cost in pico-USD (recorded or backfilled) and the calls still unpriced. The scope is
keyed by the sha256 of its canonical JSON (`scope_key`), a fixed-width key since tag values
are unbounded text; its tags, provider and model are kept beside it to be read. The period
start is stored as its first instant (UTC microseconds, like the ledger's `at_us`), so the
same calendar day in another time zone is another row, never a mix.

A scope narrowed to a model is kept under the model's name in the price catalog
(`model_key`): genai-prices' matching says which names are one model, so "gpt-4o" and the
"gpt-4o-2024-08-06" a response names count together, and "gpt-4o-mini" apart.

This module only computes (`tally`): the statements are in `totals_sql`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import JSON, BigInteger, Column, MetaData, String, Table
from sqlalchemy.dialects import postgresql

__all__ = [
    "PERIODS",
    "Calendar",
    "Scope",
    "Total",
    "TotalsSpec",
    "budget_crossings",
    "catalog_id",
    "metadata",
    "model_key",
    "spend_totals",
    "tally",
    "totals_state",
]

PERIODS = ("day", "week", "month")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_Json = JSON().with_variant(postgresql.JSONB(), "postgresql")

metadata = MetaData()

spend_totals = Table(
    "llmledger_spend_totals",
    metadata,
    Column("period", String(8), primary_key=True),
    Column("start_us", BigInteger, primary_key=True, autoincrement=False),
    Column("scope_key", String(64), primary_key=True),
    Column("end_us", BigInteger, nullable=False),
    Column("tags", _Json, nullable=False),
    Column("provider", String(64)),
    Column("model", String(255)),
    Column("calls", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("unpriced_calls", BigInteger, nullable=False),
)

totals_state = Table(
    "llmledger_totals_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("spec", _Json, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)
"""The spec the totals were built for (name ``spec``): the nightly job's backfill and
`llmledger spool replay --rejected` keep the same totals without being told."""

budget_crossings = Table(
    "llmledger_budget_crossings",
    metadata,
    Column("budget_key", String(64), primary_key=True),
    Column("start_us", BigInteger, primary_key=True, autoincrement=False),
    Column("scope_key", String(64), primary_key=True),
    Column("share", String(32), primary_key=True),
    Column("spent", BigInteger, nullable=False),
    Column("crossed_at_us", BigInteger, nullable=False),
)
"""Budget thresholds crossed (`llmledger.budgets.notify`): the row's insert is what decides,
across processes and restarts, that one notification fires."""


@dataclass(frozen=True)
class TotalsSpec:
    """Which totals are kept. `tag_keys`: a key ("tenant") or a group of keys
    (``("feature", "tenant")``) per entry; `models`: also keep each scope per provider and
    per provider and model. Every process writing one database must use the same spec.
    `model_names`: the content id of the catalog whose matching names the models
    (`model_key`; the installed one by default), so that another catalog rebuilds the totals."""

    tz: str = "UTC"
    tag_keys: tuple[str | tuple[str, ...], ...] = field(default=(), compare=False)
    periods: tuple[str, ...] = PERIODS
    models: bool = False
    model_names: str | None = None
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    # The scopes' tag keys, whole app first: what two specs are compared by.
    groups: tuple[tuple[str, ...], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"TotalsSpec.tz: {self.tz!r} is not an IANA time zone") from exc
        unknown = [p for p in self.periods if p not in PERIODS]
        if unknown or not self.periods:
            raise ValueError(f"TotalsSpec.periods: {self.periods!r}, expected some of {PERIODS}")
        groups = [(k,) if isinstance(k, str) else tuple(sorted(k)) for k in self.tag_keys]
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "groups", ((), *dict.fromkeys(groups)))
        object.__setattr__(self, "periods", tuple(p for p in PERIODS if p in self.periods))
        if not self.models:
            object.__setattr__(self, "model_names", None)
        elif self.model_names is None:
            object.__setattr__(self, "model_names", catalog_id())

    def as_json(self) -> dict[str, Any]:
        """The spec as stored in `llmledger_totals_state`."""
        groups = [list(g) for g in self.groups[1:]]
        return {
            "tz": self.tz,
            "tag_keys": groups,
            "periods": list(self.periods),
            "models": self.models,
            "model_names": self.model_names,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TotalsSpec:
        keys = tuple(tuple(g) for g in data["tag_keys"])
        # Totals kept before models were named by the catalog have no id: "" is none.
        names = data.get("model_names") or ""
        return cls(data["tz"], keys, tuple(data["periods"]), bool(data["models"]), names)

    def keeps(self, scope: Scope) -> bool:
        """Whether this spec keeps `scope`'s totals."""
        narrowed = scope.provider is not None
        if scope.model is not None and not narrowed:
            return False
        return (not narrowed or self.models) and tuple(k for k, _ in scope.tags) in self.groups


@dataclass(frozen=True)
class Scope:
    """Whose spend: the whole app (no tags), or one value per key of a group of tag keys,
    optionally narrowed to a provider, or to a provider and model.
    ``Scope({"tenant": "acme"})``, ``Scope(provider="openai", model="gpt-4o")``."""

    tags: Mapping[str, str] | tuple[tuple[str, str], ...] = ()
    provider: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        pairs = self.tags.items() if isinstance(self.tags, Mapping) else self.tags
        object.__setattr__(self, "tags", tuple(sorted(pairs)))

    @property
    def key(self) -> str:
        """The scope's row key: sha256 of its canonical JSON."""
        return _scope_key(self.tags, self.provider, self.model)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Total:
    """One scope's spend in one period."""

    calls: int = 0
    cost: int = 0  # pico-USD of the priced calls (backfilled prices included)
    unpriced_calls: int = 0

    @property
    def usd(self) -> Decimal:
        return Decimal(self.cost).scaleb(-12)


@lru_cache(maxsize=65536)
def _scope_key(tags: tuple[tuple[str, str], ...], provider: str | None, model: str | None) -> str:
    # ASCII JSON: a lone surrogate in a tag value (which SQLite stores) is escaped, not an error.
    identity = json.dumps([[list(p) for p in tags], provider, model])
    return hashlib.sha256(identity.encode()).hexdigest()


def catalog_id() -> str:
    """The content id of the installed price catalog (genai-prices' data, no overrides)."""
    from ..pricing import build_pricer  # not at import: building the catalog takes a second

    return build_pricer().snapshot_id


@lru_cache(maxsize=65536)
def model_key(provider: str, model: str) -> str:
    """The name `model`'s spend through `provider` is kept and budgeted under: the id of the
    installed catalog's entry that prices it (genai-prices' matching, as in pricing: dated
    names and other spellings of one model give its id), else `model` as given.

    The bare catalog, not the app's price overrides: every process names models alike."""
    from ..pricing import build_pricer

    return build_pricer().model_id(provider, model) or model


def _instant(day: dt.date, zone: ZoneInfo) -> int:
    """Microseconds since the epoch of `day`'s first instant in `zone`. A midnight skipped by
    a DST change is read with the offset before it, which is the day's first instant."""
    return (dt.datetime(day.year, day.month, day.day, tzinfo=zone) - _EPOCH) // _US


def _starts(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    if period == "day":
        return day, day + dt.timedelta(days=1)
    if period == "week":  # ISO weeks start on Monday
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


class Calendar:
    """The periods an instant falls in, for one spec: ``(period, start_us, end_us)``, the
    bounds in UTC microseconds. Remembers the last local day, since a batch's rows share it."""

    def __init__(self, spec: TotalsSpec) -> None:
        self.spec = spec
        self._day = (0, -1, [])  # [start_us, end_us) of the last local day, its periods

    def periods(self, at_us: int) -> list[tuple[str, int, int]]:
        lo, hi, periods = self._day
        if lo <= at_us < hi:
            return periods
        zone = self.spec.zone
        day = dt.datetime.fromtimestamp(at_us // 1_000_000, zone).date()
        periods = []
        for period in self.spec.periods:
            start, end = _starts(day, period)
            periods.append((period, _instant(start, zone), _instant(end, zone)))
        self._day = (_instant(day, zone), _instant(day + dt.timedelta(days=1), zone), periods)
        return periods


# (period, start_us, scope_key) -> [end_us, tags, provider, model, calls, cost, unpriced]
Deltas = dict[tuple[str, int, str], list[Any]]


def tally(
    calendar: Calendar, rows: Iterable[tuple[int, str, str, Mapping[str, str], int | None, int]]
) -> Deltas:
    """What `rows` add to the totals. Each row is (at_us, provider, model, tags, cost, calls):
    a call recorded is ``calls=1`` with its cost (None when unpriced); a price backfilled
    later is ``calls=0`` with the price, which also takes the call out of the unpriced."""
    spec = calendar.spec
    deltas: Deltas = {}
    narrowings = ((False, False), (True, False), (True, True)) if spec.models else ((False, False),)
    for at_us, provider, model, tags, cost, calls in rows:
        periods = calendar.periods(at_us)
        unpriced = calls if cost is None else -1 if calls == 0 else 0
        for group in spec.groups:
            if not all(k in tags for k in group):
                continue
            pairs = tuple((k, tags[k]) for k in group)
            for by_provider, by_model in narrowings:
                p = provider if by_provider else None
                m = model_key(provider, model) if by_model else None
                key = _scope_key(pairs, p, m)
                for period, start, end in periods:
                    delta = deltas.get((period, start, key))
                    if delta is None:
                        delta = deltas[(period, start, key)] = [end, dict(pairs), p, m, 0, 0, 0]
                    delta[4] += calls
                    delta[5] += cost or 0
                    delta[6] += unpriced
    return deltas
