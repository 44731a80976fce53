"""The "notify" action: `on_budget(event)` once per threshold crossed, per scope and period.

Checked on the writer thread after each batch it wrote, with the totals read afresh (not the
preflight's cache). A crossing is a row of `llmledger_budget_crossings`, keyed by budget,
period start, scope and share: the process whose insert of that row succeeds calls the
callback; any other process, and this one after a restart, finds the row and does not. So a
callback fires at most once, even if the process dies right after the insert (then never:
the crossing is recorded, its notification lost). Calls spooled through an outage and
replayed later are counted in the totals, but notify only with the next call written live
in their scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from ..store.totals import Calendar, Scope, TotalsSpec, budget_crossings
from ..store.totals_sql import read_totals
from .check import problems
from .spec import Budget

__all__ = ["BudgetEvent", "Notifier"]

log = logging.getLogger("llmledger")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class BudgetEvent:
    """A threshold crossed: `budget`'s spend for `scope` reached `threshold` (a share of the
    limit) in the period starting at `period_start` (UTC; the call's time for a "call"
    budget). `spent` and `limit` are Decimal USD."""

    budget: Budget
    scope: Scope
    spent: Decimal
    limit: Decimal
    threshold: Decimal
    period_start: dt.datetime


def budget_key(budget: Budget) -> str:
    """sha256 of a budget's definition: the same budget in every process."""
    where = [list(pair) for pair in budget.where]  # type: ignore[union-attr]
    definition = [budget.period, str(budget.limit_pico), budget.per, where, budget.provider,
                  budget.model]  # fmt: skip
    return hashlib.sha256(json.dumps(definition).encode()).hexdigest()


class Notifier:
    """Checks the notify budgets after each written batch and calls `on_budget` on crossings."""

    def __init__(
        self,
        budgets: Iterable[Budget],
        engine: Engine,
        spec: TotalsSpec | None,
        on_budget: Callable[[BudgetEvent], object],
    ) -> None:
        self.budgets = [(b, budget_key(b)) for b in budgets if b.action == "notify"]
        self.engine = engine
        self.spec = spec
        self.calendar = None if spec is None else Calendar(spec)
        self.on_budget = on_budget
        self._known: set[tuple[str, int, str, str]] = set()  # crossings recorded, here or not

    def after_write(self, rows: list[Mapping[str, Any]]) -> None:
        """Notify the crossings the written `rows` made; never raises."""
        try:
            self._check(rows)
        except Exception:  # the rows are written; a failed check must not touch the writer
            problems["notify"] += 1
            log.warning("llmledger: could not check notify budgets", exc_info=True)

    def _check(self, rows: list[Mapping[str, Any]]) -> None:
        now_us = time.time_ns() // 1000
        for budget, key in self.budgets:
            scopes: set[Scope] = set()
            for row in rows:
                scope = budget.scope_of(row["tags"], row["provider"], row["model"])
                if scope is None:
                    continue
                if budget.period == "call":  # each call is its own period
                    call_scope = Scope(scope.tags, scope.provider, scope.model)
                    self._crossed(budget, key, call_scope, row["at_us"], row["cost"] or 0,
                                  row["event_id"])  # fmt: skip
                else:
                    scopes.add(scope)
            if not scopes:
                continue
            assert self.spec is not None and self.calendar is not None  # a period budget
            start = next(s for p, s, _ in self.calendar.periods(now_us) if p == budget.period)
            unsettled = [s for s in scopes if not self._all_known(budget, key, start, s.key)]
            if not unsettled:
                continue
            at = _EPOCH + dt.timedelta(microseconds=now_us)
            with self.engine.connect() as connection:
                totals = read_totals(connection, self.spec, unsettled, at)
            for scope in unsettled:
                self._crossed(
                    budget, key, scope, start, totals[scope][budget.period].cost, scope.key
                )

    def _all_known(self, budget: Budget, key: str, start: int, scope_key: str) -> bool:
        return all((key, start, scope_key, str(s)) in self._known for s in budget.notify_at)  # type: ignore[union-attr]

    def _crossed(
        self, budget: Budget, key: str, scope: Scope, start: int, spent: int, scope_key: str
    ) -> None:
        for share in budget.notify_at:  # lowest first
            if spent < share * budget.limit_pico:  # type: ignore[operator]
                return
            crossing = (key, start, scope_key, str(share))
            if crossing in self._known:
                continue
            self._known.add(crossing)
            if self._record(crossing, spent):
                self._fire(BudgetEvent(budget, scope, Decimal(spent).scaleb(-12), budget.usd,  # type: ignore[arg-type]
                                       share, _EPOCH + dt.timedelta(microseconds=start)))  # type: ignore[arg-type]  # fmt: skip

    def _record(self, crossing: tuple[str, int, str, str], spent: int) -> bool:
        """Insert the crossing; False if a row says it was recorded already."""
        key, start, scope_key, share = crossing
        row = {"budget_key": key, "start_us": start, "scope_key": scope_key, "share": share,
               "spent": spent, "crossed_at_us": time.time_ns() // 1000}  # fmt: skip
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(budget_crossings).values(row))
        except IntegrityError:  # another process, or this one before a restart, recorded it
            return False
        return True

    def _fire(self, event: BudgetEvent) -> None:
        try:
            self.on_budget(event)
        except Exception:  # the app's callback: contained like the on_call hook
            problems["on_budget"] += 1
            log.warning("llmledger: on_budget raised", exc_info=True)
