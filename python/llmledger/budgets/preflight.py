"""`check_budget()`, and the preflight capture runs before an instrumented request leaves.

Both read the configuration through `config.configured()` (never configuring it) and contain
every failure but `BudgetExceeded`: a budget that cannot be read (the database down, a bug
here) is logged, counted in `problems`, and the call proceeds. A budget fails open rather
than stop an app whose database is out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from .. import config, tagging
from .check import Guard, problems
from .spec import BudgetExceeded

__all__ = ["after_call", "check_budget", "preflight", "problems", "release", "reserve"]

log = logging.getLogger("llmledger")


def preflight(
    scoped: Mapping[str, str],
    provider: str | None,
    model: str | None,
    explicit: Mapping[str, str] | None = None,
) -> None:
    """Check the budgets checked before a request for a call with these tags (the defaults,
    then `scoped`, then `explicit`, as the call's row will have them), provider and model:
    raise `BudgetExceeded`, or return, never anything else."""
    st = config.configured()
    guard = None if st is None else st.guard
    if guard is None or not guard.before:
        return
    try:
        if st.default_tags is None and not explicit:  # type: ignore[union-attr]
            tags = scoped
        else:
            defaults = tagging.resolve_defaults(st.default_tags)  # type: ignore[union-attr]
            tags = tagging.merge(defaults, scoped, explicit or {})
        guard.preflight(tags, provider, model)
    except BudgetExceeded:
        raise
    except Exception:  # a budget must never break the call it cannot check: log, count, go on
        problems["preflight"] += 1
        log.warning("llmledger: could not check budgets; the call proceeds", exc_info=True)


def _call_tags(st: Any, scoped: Mapping[str, str]) -> Mapping[str, str]:
    if st.default_tags is None:
        return scoped
    return tagging.merge(tagging.resolve_defaults(st.default_tags), scoped, {})


def reserve(
    scoped: Mapping[str, str],
    provider: str,
    model: str | None,
    worst_case: Callable[[int | None], int | None],
    event_id: str,
) -> bool:
    """Reserve a request's worst case in the `reserve` budgets it spends in (see
    `llmledger.budgets.reserve`): True once reserved under `event_id`, False when no such
    budget applies or the reservation failed (logged, counted: the call proceeds).
    `worst_case(default_cap)` prices the request, the output at `default_cap` tokens when it
    names no cap. Raises `BudgetExceeded` and nothing else."""
    st = config.configured()
    guard = None if st is None else st.guard
    reserver = None if guard is None else guard.reserver
    if reserver is None:
        return False
    try:
        applying = reserver.applying(_call_tags(st, scoped), provider, model)
        if not applying:
            return False
        reserver.reserve(applying, worst_case(reserver.default_cap(applying)), event_id)
        return True
    except BudgetExceeded:
        raise
    except Exception:  # as any budget check: fail open, logged and counted
        problems["reserve"] += 1
        log.warning("llmledger: could not reserve a budget; the call proceeds", exc_info=True)
        return False


def release(event_id: str) -> None:
    """Drop the reservations made under `event_id` (its request failed); never raises."""
    st = config.configured()
    reserver = None if st is None or st.guard is None else st.guard.reserver
    if reserver is None:
        return
    try:
        reserver.release(event_id)
    except Exception:  # the reservation expires on its own (`RESERVATION_SECONDS`)
        problems["reserve"] += 1
        log.warning("llmledger: could not release a budget reservation", exc_info=True)


def after_call(guard: Guard, row: Mapping[str, Any]) -> None:
    """`guard.after_call(row)`, raising `BudgetExceeded` and nothing else."""
    try:
        guard.after_call(row)
    except BudgetExceeded:
        raise
    except Exception:  # the call is recorded; an unreadable budget must not fail track()
        problems["after_call"] += 1
        log.warning("llmledger: could not check raise budgets after a call", exc_info=True)


def check_budget(provider: str | None = None, model: str | None = None, /, **tags: Any) -> None:
    """Raises `BudgetExceeded` if a call with these tags would exceed a budget: for code that
    calls `track()` itself, before it spends. Instrumented clients run the same check before
    each request.

    The call's tags are those `track()` would record: the configured defaults, then the
    `llmledger.tags()` scope, then `tags`. `provider` and `model` (positional) match budgets
    that name them; a budget naming a provider or model does not apply when they are not given.

    Checked: "block" budgets, and "raise" budgets already reached, for the current day, week
    or month ("call" budgets act after the call). Spent is the database's totals, read at most
    `llmledger.budgets.check.CACHE_SECONDS` (1 s) ago, plus this process's calls not yet
    written; calls other processes wrote in that second may be missed. Unpriced calls count as
    0 USD; a budget with ``unpriced="block"`` also refuses `model` when no configured price
    covers it (`BudgetExceeded.unpriced` names it). Does nothing while recording is off or no
    such budget is configured, and fails open (logged, counted in
    `llmledger.budgets.preflight.problems`) when the totals cannot be read.
    """
    explicit = tagging.clean_explicit(tags)  # bad tags raise here, where the user called
    preflight(tagging.snapshot(), provider, model, explicit)
