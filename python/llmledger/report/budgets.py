"""`llmledger budgets` output: the budgets' statuses as a table for a terminal, or as JSON.

Money goes through `money.usd` like every amount the command line prints; JSON carries the
exact Decimals as strings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ..budgets.spec import Budget
from ..budgets.status import BudgetStatus
from ..money import usd

__all__ = ["as_json", "render"]

_HEADER = ["scope", "spent", "limit", "share", "projected", "unpriced"]

FOOTNOTE = (
    "unpriced: calls no price covers, their cost unknown and not in spent. A budget with\n"
    "  unpriced: ignore counts them as $0; one with unpriced: block also refuses a request\n"
    "  to a model no price covers before it is sent. A price override, then `llmledger\n"
    "  reaggregate`, backfills their cost into the totals."
)


def _describe(budget: Budget) -> str:
    """``day budget $5.00, per tenant where feature=agent, block, unpriced: ignore``."""
    who = []
    if budget.per:
        who.append(f"per {budget.per}")
    if budget.where:
        who.append("where " + ", ".join(f"{k}={v}" for k, v in budget.where))  # type: ignore[union-attr]
    if budget.provider:
        who.append(f"on {budget.provider}{'/' + budget.model if budget.model else ''}")
    action = budget.action
    if action == "notify":
        action += " at " + ", ".join(f"{s:.0%}" for s in budget.notify_at)  # type: ignore[union-attr]
    return ", ".join(
        [f"{budget.period} budget {usd(budget.usd)}", " ".join(who) or "whole app", action,  # type: ignore[arg-type]
         f"unpriced: {budget.unpriced}"]
    )  # fmt: skip


def _row(status: BudgetStatus) -> list[str]:
    per = status.budget.per
    scope = ", ".join(f"{k}={v}" for k, v in status.scope.tags if k == per) or "total"  # type: ignore[union-attr]
    return [
        scope,
        usd(status.spent),
        usd(status.limit),
        f"{status.share:.1%}",
        usd(status.projected),
        f"{status.unpriced_calls:,}",
    ]


def _elapsed(status: BudgetStatus, at: dt.datetime) -> str:
    whole = status.period_end - status.period_start
    share = min(max((at - status.period_start) / whole, 0), 1)
    bounds = f"{status.period_start:%Y-%m-%d %H:%M} .. {status.period_end:%Y-%m-%d %H:%M}"
    return f"{bounds}, {share:.1%} elapsed"


def render(
    budgets: Sequence[Budget],
    statuses: Sequence[BudgetStatus],
    tz: str,
    at: dt.datetime,
    *,
    top: int,
) -> str:
    """The statuses as text: a block per budget, its `top` highest-spending scopes."""
    out = [f"llmledger budgets at {at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC (periods in {tz})"]
    if not budgets:
        return out[0] + "\n  no budgets in the list given"
    blocks: list[tuple[Budget, list[BudgetStatus]]] = [(b, []) for b in budgets]
    by_budget = {id(b): rows for b, rows in blocks}
    for status in statuses:
        by_budget[id(status.budget)].append(status)
    shown = [_row(s) for _, rows in blocks for s in rows[:top]]
    widths = [max([len(h), *(len(r[i]) for r in shown)]) for i, h in enumerate(_HEADER)]

    def line(cells: list[str]) -> str:
        first, *numbers = zip(cells, widths, strict=True)
        return "    " + "  ".join([first[0].ljust(first[1]), *(c.rjust(w) for c, w in numbers)])

    for budget, rows in blocks:
        out += ["", _describe(budget)]
        if budget.period == "call":
            out.append("  no period total: each call's cost is checked against the limit when")
            out.append("  the call is recorded")
            continue
        if not rows:
            out.append(f"  no spend this period by any {budget.per}")
            continue
        out.append(f"  {_elapsed(rows[0], at)}")
        out += [line(_HEADER), *(line(_row(s)) for s in rows[:top])]
        if len(rows) > top:
            rest = rows[top:]
            spent = sum((s.spent for s in rest), Decimal(0))
            unpriced = sum(s.unpriced_calls for s in rest)
            out.append(
                f"    ... {len(rest):,} more ({budget.per}): {usd(spent)} spent, "
                f"{unpriced:,} unpriced calls"
            )
    if any(s.unpriced_calls for s in statuses):
        out += ["", FOOTNOTE]
    return "\n".join(out)


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _budget(budget: Budget) -> dict[str, Any]:
    return {
        "period": budget.period,
        "usd": _amount(budget.usd),  # type: ignore[arg-type]
        "per": budget.per,
        "where": dict(budget.where),  # type: ignore[arg-type]
        "provider": budget.provider,
        "model": budget.model,
        "action": budget.action,
        "notify_at": [_amount(s) for s in budget.notify_at],  # type: ignore[union-attr]
        "unpriced": budget.unpriced,
    }


def _scope(status: BudgetStatus) -> dict[str, Any]:
    scope = status.scope
    return {"tags": dict(scope.tags), "provider": scope.provider, "model": scope.model}  # type: ignore[arg-type]


def as_json(
    budgets: Sequence[Budget], statuses: Sequence[BudgetStatus], tz: str, at: dt.datetime
) -> str:
    """The statuses as JSON: amounts as exact decimal strings, times ISO with their offset.
    "call" budgets are listed apart: they have no period total."""
    return json.dumps(
        {
            "at": at.isoformat(),
            "tz": tz,
            "statuses": [
                {
                    "budget": _budget(s.budget),
                    "scope": _scope(s),
                    "period_start": s.period_start.isoformat(),
                    "period_end": s.period_end.isoformat(),
                    "spent": _amount(s.spent),
                    "limit": _amount(s.limit),
                    "share": _amount(s.share),
                    "projected": _amount(s.projected),
                    "unpriced_calls": s.unpriced_calls,
                }
                for s in statuses
            ],
            "call_budgets": [_budget(b) for b in budgets if b.period == "call"],
        },
        indent=2,
    )
