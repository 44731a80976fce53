"""Where each budget stands: `budget_status()`, read by `llmledger budgets` and the dashboard.

It reads only the spend totals the writers keep (`llmledger.store.totals`), one read by the
totals' primary key prefix (period, period start) for the current periods, never the ledger:
as cheap with a billion calls as with ten. So it sees what is written, not the calls a
running app has accepted and not written yet (a preflight counts those too), and it needs
the totals to be kept for these budgets: an app must have configured them (`configure
(budgets=..., budget_tz=...)`), which builds the totals from the ledger at its first write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.engine import URL

from ..store.engine import make_engine
from ..store.totals import Calendar, Scope, TotalsSpec, model_key, spend_totals
from ..store.totals_sql import stored_spec
from .spec import Budget, totals_spec_for

__all__ = ["BudgetStatus", "TotalsNotKept", "budget_status"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


class TotalsNotKept(LookupError):
    """The database keeps no spend totals for these budgets (none at all, another time zone,
    other tag keys, periods or models): the message says which, and what to do."""


@dataclass(frozen=True)
class BudgetStatus:
    """One budget's spend for one scope in its current period.

    `scope`: whose spend, a `llmledger.store.Scope`: ``scope.tags`` is a tuple of (key,
    value) pairs, empty for the whole app (``dict(scope.tags)`` for a dict), with the
    budget's `provider` and `model` (the catalog's name of the model, see `Budget`).
    `period_start` and `period_end`: the period's bounds, datetimes in the time zone asked
    for (end excluded). `spent`, `limit`, `projected`: Decimal USD, exact to the pico-USD
    (`projected` rounded down to it). `share`: spent / limit. `projected`: the spend at the
    period's end if it goes on at the rate so far, linear in the elapsed share of the period
    (``spent * period length / time elapsed``), so early in a period it swings widely.
    `unpriced_calls`: the scope's calls in the period that no price covers; they are not in
    `spent` (see `Budget.unpriced`).
    """

    budget: Budget
    scope: Scope
    period_start: dt.datetime
    period_end: dt.datetime
    spent: Decimal
    limit: Decimal
    share: Decimal
    projected: Decimal
    unpriced_calls: int


def budget_status(
    engine_or_url: Engine | URL | str,
    budgets: Sequence[Budget],
    *,
    tz: str = "UTC",
    at: dt.datetime | None = None,
) -> list[BudgetStatus]:
    """Each budget's spend in the period containing `at` (now by default; an aware datetime),
    periods being calendar periods in `tz` (as `configure(budget_tz=...)`): a whole-app or
    `where` budget gives one status (zeros if nothing was spent), a `per` budget one per
    scope that spent in the period, highest spend first, none if none did. "call" budgets
    give none: each call is its own period, checked when it is recorded, with no total.

    Reads the spend totals, never the ledger; `TotalsNotKept` when the database does not keep
    them for these budgets and `tz`.
    """
    if not isinstance(budgets, list | tuple) or not all(isinstance(b, Budget) for b in budgets):
        raise TypeError("budgets must be a list of llmledger.Budget")
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"budget_status: tz={tz!r} is not an IANA time zone") from None
    if at is None:
        at = dt.datetime.now(dt.UTC)
    elif at.tzinfo is None:
        raise ValueError("budget_status: at must be an aware datetime (a naive one has no zone)")
    kept = [b for b in budgets if b.period != "call"]
    wanted = totals_spec_for(kept, tz)
    if wanted is None:
        return []
    engine = make_engine(engine_or_url)
    try:
        with engine.connect() as connection:
            spec = stored_spec(connection)
            _require_kept(spec, wanted)
            at_us = (at - _EPOCH) // _US
            periods = {p: (s, e) for p, s, e in Calendar(wanted).periods(at_us)}
            t = spend_totals
            query = select(t.c.period, t.c.tags, t.c.provider, t.c.model, t.c.cost,
                           t.c.unpriced_calls).where(
                or_(*(and_(t.c.period == p, t.c.start_us == s) for p, (s, _) in periods.items()))
            )  # fmt: skip
            rows = connection.execute(query).all()
    finally:
        if engine is not engine_or_url:
            engine.dispose()
    out = []
    for budget in kept:
        start, end = periods[budget.period]
        seen = _scopes(budget, (r for r in rows if r.period == budget.period))
        if budget.per is None and not seen:  # nothing spent yet: its one scope, at zero
            seen = [(Scope(budget.where, budget.provider, _model(budget)), 0, 0)]  # type: ignore[arg-type]
        for scope, cost, unpriced in sorted(seen, key=lambda s: (-s[1], -s[2], s[0].tags)):
            out.append(_status(budget, scope, start, end, at_us, cost, unpriced, zone))
    return out


def _scopes(budget: Budget, rows: Iterable) -> list[tuple[Scope, int, int]]:
    """`budget`'s scopes among a period's totals rows: (scope, cost, unpriced calls)."""
    keys = set(budget.tag_keys)
    narrowing = (budget.provider, _model(budget))
    found = []
    for row in rows:
        tags = row.tags
        if (row.provider, row.model) != narrowing or set(tags) != keys:
            continue
        if any(tags[k] != v for k, v in budget.where):  # type: ignore[union-attr]
            continue
        found.append((Scope(tags, row.provider, row.model), int(row.cost), int(row.unpriced_calls)))
    return found


def _model(budget: Budget) -> str | None:
    """The model name `budget`'s totals are kept under (see `Budget`)."""
    return None if budget.model is None else model_key(budget.provider, budget.model)  # type: ignore[arg-type]


def _status(budget: Budget, scope: Scope, start: int, end: int, at_us: int, cost: int,
            unpriced: int, zone: ZoneInfo) -> BudgetStatus:  # fmt: skip
    elapsed = at_us - start
    projected = cost if elapsed <= 0 else cost * (end - start) // elapsed
    return BudgetStatus(
        budget=budget,
        scope=scope,
        period_start=(_EPOCH + start * _US).astimezone(zone),
        period_end=(_EPOCH + end * _US).astimezone(zone),
        spent=Decimal(cost).scaleb(-12),
        limit=budget.usd,  # type: ignore[arg-type]
        share=Decimal(cost) / Decimal(budget.limit_pico),
        projected=Decimal(projected).scaleb(-12),
        unpriced_calls=unpriced,
    )


def _require_kept(spec: TotalsSpec | None, wanted: TotalsSpec) -> None:
    """`TotalsNotKept` unless the totals kept (`spec`) hold every total `wanted` needs."""
    if spec is None:
        raise TotalsNotKept(
            "this database keeps no spend totals yet: an app that configures these budgets "
            "(configure(budgets=...)) builds them from the ledger at its first write"
        )
    if spec.tz != wanted.tz:
        raise TotalsNotKept(
            f"the spend totals are kept in time zone {spec.tz}, not {wanted.tz}: ask for "
            f"{spec.tz} (--tz {spec.tz}), or configure the app with budget_tz={wanted.tz!r}"
        )
    missing = [f"the {p} period" for p in wanted.periods if p not in spec.periods]
    missing += [f"the tag keys {', '.join(g)}" for g in wanted.groups if g not in spec.groups]
    if wanted.models and not spec.models:
        missing.append("budgets by provider or model")
    elif wanted.models and spec.model_names != wanted.model_names:
        missing.append("model names as the installed price catalog gives them (another one did)")
    if missing:
        raise TotalsNotKept(
            "the spend totals this database keeps do not cover "
            + "; ".join(missing)
            + ": the app writing it configures other budgets than these (its writer rebuilds "
            "the totals for the budgets it is configured with)"
        )
