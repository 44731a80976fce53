"""`BudgetExceeded` as the app's SDK lets it through.

The OpenAI SDK re-raises what its transport raises unless it is an httpx error, but the
Anthropic SDK wraps every other exception in its `APIConnectionError` (and retries it, with
back-off) unless it is an `AnthropicError`. So for a call in Anthropic's format, while that SDK
is imported, the error raised is a subclass of both `llmledger.BudgetExceeded` and
`anthropic.AnthropicError`: the SDK passes it on unchanged, at once, and the app's
``except llmledger.BudgetExceeded`` catches it.
"""

from __future__ import annotations

import sys
from functools import cache

from ..budgets import BudgetExceeded
from .hosts import Route

__all__ = ["as_raised"]


@cache
def _anthropic_kind(kind: type[BudgetExceeded], base: type) -> type[BudgetExceeded]:
    return type(kind.__name__, (kind, base), {"__module__": kind.__module__})


def as_raised(error: BudgetExceeded, route: Route) -> BudgetExceeded:
    """`error`, of a class the SDK calling `route` re-raises unchanged."""
    anthropic = sys.modules.get("anthropic")
    if route.dialect != "anthropic" or anthropic is None:
        return error
    kind = _anthropic_kind(type(error), anthropic.AnthropicError)
    return kind(
        error.budget, error.scope, error.spent, error.limit, error.unpriced, error.worst_case
    )
