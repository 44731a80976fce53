"""Budgets: spend limits per period and scope that notify, raise, or block a request before it
leaves the process. `spec` says what a budget is, `check` how it is checked against the spend
totals the writer keeps (`llmledger.store.totals`) plus the calls not yet written (`pending`),
`preflight` where (capture, `check_budget()`, `track()`), `notify` how a crossing fires once."""

from .spec import Budget, BudgetExceeded, UnboundedRequest

__all__ = ["Budget", "BudgetExceeded", "UnboundedRequest"]
