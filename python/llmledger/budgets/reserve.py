"""`Budget(reserve=True)`: a request reserves its worst-case cost before it leaves, and the
writer settles it with the real cost (`llmledger.store.reservations` says how it is atomic).

What it bounds: while the database answers, a reserve budget's scope never has more spent
and reserved than its limit, so its spend exceeds the limit only by what calls cost beyond
their worst case (`llmledger.capture.worst_case` lists what that cannot see), plus spend
that reserved nothing: calls through `track()`, calls from processes configured without the
budget's `reserve`, calls whose reservation expired (`RESERVATION_SECONDS`) before their row
was written. What it costs: a database round trip per request in the budget's scope, and
refusals while calls in flight hold their worst cases, though their real cost may fit.

A reservation that cannot be made because the database fails is logged and counted in
`problems["reserve"]`, and the call proceeds, as every budget check fails open.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import Engine

from ..store import reservations
from ..store.totals import Calendar, Scope
from .spec import Budget, BudgetExceeded, UnboundedRequest

__all__ = ["SWEEP_SECONDS", "Reserver"]

SWEEP_SECONDS = 60.0  # how often a process deletes expired reservations


def _usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)


class Reserver:
    """The reserve budgets of one process, and the reservations they make."""

    def __init__(self, budgets: Iterable[Budget], engine: Engine, calendar: Calendar) -> None:
        self.budgets = tuple(b for b in budgets if b.reserve)
        self.engine = engine
        self.calendar = calendar
        self._swept = time.monotonic()

    def applying(
        self, tags: Mapping[str, str], provider: str | None, model: str | None
    ) -> list[tuple[Budget, Scope]]:
        """The reserve budgets a call with these tags, provider and model spends in."""
        found = []
        for budget in self.budgets:
            scope = budget.scope_of(tags, provider, model)
            if scope is not None:
                found.append((budget, scope))
        return found

    @staticmethod
    def default_cap(applying: list[tuple[Budget, Scope]]) -> int | None:
        """The output tokens to reserve for a request that names no cap: the largest of the
        budgets' `reserve_max_tokens`; None if one of them has none."""
        caps = [b.reserve_max_tokens for b, _ in applying]
        return None if None in caps else max(caps)  # type: ignore[type-var]

    def reserve(
        self, applying: list[tuple[Budget, Scope]], worst_case: int | None, event_id: str
    ) -> None:
        """Reserve `worst_case` pico-USD under `event_id` in each budget's scope, or raise
        `BudgetExceeded` for the first it does not fit (`UnboundedRequest` when it is None:
        the request named no cap and a budget no `reserve_max_tokens`)."""
        if worst_case is None:
            budget, scope = next((b, s) for b, s in applying if b.reserve_max_tokens is None)
            raise UnboundedRequest(budget, scope, Decimal(0), budget.usd)  # type: ignore[arg-type]
        now_us = time.time_ns() // 1000
        if time.monotonic() - self._swept > SWEEP_SECONDS:  # before: a failure reserves nothing
            self._swept = time.monotonic()
            reservations.sweep(self.engine, now_us)
        starts = {period: start for period, start, _ in self.calendar.periods(now_us)}
        holds: dict[tuple[str, int, str], reservations.Hold] = {}
        owners = {}
        for budget, scope in applying:  # one hold per scope and period, at the lowest limit
            key = (budget.period, starts[budget.period], scope.key)
            held = holds.get(key)
            if held is None or budget.limit_pico < held.limit:
                holds[key] = reservations.Hold(*key, worst_case, budget.limit_pico)
                owners[key] = (budget, scope)
        refused = reservations.reserve(self.engine, event_id, list(holds.values()), now_us)
        if refused is not None:
            hold, spent = refused
            budget, scope = owners[(hold.period, hold.start_us, hold.scope_key)]
            raise BudgetExceeded(
                budget,
                scope,
                _usd(spent),
                budget.usd,
                worst_case=_usd(worst_case),  # type: ignore[arg-type]
            )

    def release(self, event_id: str) -> None:
        """Drop the reservations of a call that will not be written (its request failed)."""
        reservations.release_now(self.engine, event_id)
