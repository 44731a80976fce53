"""Checking budgets: before a request (`Guard.preflight`) and after a call is recorded
(`Guard.after_call`).

A preflight reads each scope's totals for the current periods (`store.read_totals`, one read
by primary key) and keeps them `CACHE_SECONDS`; to them it adds the cost of calls this process
accepted and has not written yet (`Pending`). So what it may miss is the spend *other
processes* wrote in the last `CACHE_SECONDS`, and calls whose response is still being read or
priced (a captured call's cost is known on the writer thread, a few milliseconds after its
response ends).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from ..pricing import Pricer
from ..store.totals import Scope, TotalsSpec
from ..store.totals_sql import read_totals
from .pending import Pending
from .reserve import Reserver
from .spec import Budget, BudgetExceeded

__all__ = ["CACHE_SECONDS", "Guard", "problems"]

CACHE_SECONDS = 1.0
_MAX_CACHED = 100_000

problems: Counter[str] = Counter()
"""Budget checks that failed and let the call through, by kind: "preflight" (before a call),
"reserve" (a reservation, `llmledger.budgets.reserve`),
"after_call" (a "raise" budget, after `track()` recorded), "notify" (a notify check after a
write) and "on_budget" (the callback raised). Also `llmledger.budgets.preflight.problems`."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)


class Guard:
    """The configured budgets of one process, and what checking them needs. `spec` and
    `pending` are None when only "call" budgets are configured (nothing to read)."""

    def __init__(
        self,
        budgets: Iterable[Budget],
        engine: Engine,
        spec: TotalsSpec | None,
        *,
        pricer: Pricer | None = None,
    ) -> None:
        budgets = tuple(budgets)
        self.engine = engine
        self.spec = spec
        self.pricer = pricer  # the configured prices, for budgets with unpriced="block"
        self.pending = None if spec is None else Pending(spec)
        # Checked before a request: block budgets, and raise budgets once reached.
        self.before = tuple(
            b for b in budgets if b.action in ("block", "raise") and b.period != "call"
        )
        self.after = tuple(b for b in budgets if b.action == "raise")
        # Whether a preflight needs the request's model (capture then parses it from the body).
        self.needs_model = any(b.model is not None or b.unpriced == "block" for b in self.before)
        # The budgets that reserve each request's worst case (block budgets, also in `before`).
        self.reserver = None
        if self.pending is not None and any(b.reserve for b in budgets):
            self.reserver = Reserver(budgets, engine, self.pending.calendar)
        # scope -> (monotonic expiry, {period: (start_us, cost read, settled at the read)})
        self._cache: dict[Scope, tuple[float, dict[str, tuple[int, int, int]]]] = {}
        self._read_lock = threading.Lock()

    def preflight(self, tags: Mapping[str, str], provider: str | None, model: str | None) -> None:
        """Raise `BudgetExceeded` for the first budget checked before a request whose scope
        has spent its limit in the current period; return otherwise."""
        for budget in self.before:
            scope = budget.scope_of(tags, provider, model)
            if scope is None:
                continue
            spent = self.spent(scope, budget.period)
            if spent >= budget.limit_pico:
                raise BudgetExceeded(budget, scope, _usd(spent), budget.usd)  # type: ignore[arg-type]
            if budget.unpriced == "block" and not self._priceable(provider, model):
                raise BudgetExceeded(budget, scope, _usd(spent), budget.usd, unpriced=model)  # type: ignore[arg-type]

    def _priceable(self, provider: str | None, model: str | None) -> bool:
        """Whether the configured prices cover this request's model; True when the request
        names none (nothing to judge it by)."""
        if provider is None or model is None or self.pricer is None:
            return True
        return self.pricer.resolve(provider, model) is not None

    def after_call(self, row: Mapping[str, Any]) -> None:
        """Raise `BudgetExceeded` for the first "raise" budget that the recorded call `row`
        (already handed to the writer) brought to its limit."""
        for budget in self.after:
            scope = budget.scope_of(row["tags"], row["provider"], row["model"])
            if scope is None:
                continue
            if budget.period == "call":
                spent = row["cost"] or 0
            else:
                spent = self.spent(scope, budget.period)
            if spent >= budget.limit_pico:
                raise BudgetExceeded(budget, scope, _usd(spent), budget.usd)  # type: ignore[arg-type]

    def spent(self, scope: Scope, period: str) -> int:
        """`scope`'s spend in the current `period`, pico-USD: the totals read (at most
        `CACHE_SECONDS` old) plus this process's calls not yet written."""
        pending = self.pending
        assert pending is not None  # only period budgets come here, and they made a spec
        now_us = time.time_ns() // 1000
        start = next(s for p, s, _ in pending.calendar.periods(now_us) if p == period)
        entry = self._cache.get(scope)
        if entry is None or entry[0] < time.monotonic() or entry[1][period][0] != start:
            entry = self._read(scope, now_us)
        _, cost, settled_then = entry[1][period]
        return cost + pending.unwritten((period, start, scope.key), settled_then)

    def _read(self, scope: Scope, now_us: int) -> tuple[float, dict[str, tuple[int, int, int]]]:
        pending = self.pending
        assert pending is not None and self.spec is not None
        periods = pending.calendar.periods(now_us)
        with self._read_lock:  # one read per scope at a time; the others wait for its answer
            entry = self._cache.get(scope)
            if entry is not None and entry[0] >= time.monotonic():
                return entry
            # Settled counts first, then the read: a row settled in between counts twice.
            settled = {p: pending.settled.get((p, s, scope.key), 0) for p, s, _ in periods}
            at = _EPOCH + dt.timedelta(microseconds=now_us)
            with self.engine.connect() as connection:
                totals = read_totals(connection, self.spec, [scope], at)[scope]
            by_period = {p: (s, totals[p].cost, settled[p]) for p, s, _ in periods}
            entry = (time.monotonic() + CACHE_SECONDS, by_period)
            if len(self._cache) >= _MAX_CACHED:  # many scopes (tenants): start afresh
                self._cache.clear()
            self._cache[scope] = entry
            return entry
