"""What a budget is: `Budget`, checked where the user builds it, `BudgetExceeded`, and the
spend totals (`TotalsSpec`) a list of budgets needs the writer to keep.

Amounts are exact: a limit is kept in pico-USD, the unit of the ledger's costs, and a float
is refused (0.1 is not one tenth in binary; pass "0.1" or a Decimal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..store.totals import PERIODS, Scope, TotalsSpec, model_key

__all__ = [
    "ACTIONS",
    "BUDGET_PERIODS",
    "UNPRICED",
    "Budget",
    "BudgetExceeded",
    "UnboundedRequest",
    "totals_spec_for",
]

BUDGET_PERIODS = ("call", *PERIODS)
ACTIONS = ("notify", "raise", "block")
UNPRICED = ("ignore", "block")
_PICO = Decimal(10) ** 12


def _amount(usd: Any) -> tuple[Decimal, int]:
    """`usd` (Decimal, int or str) as a Decimal and in pico-USD, exactly; TypeError or
    ValueError naming usd."""
    if isinstance(usd, bool) or not isinstance(usd, Decimal | int | str):
        raise TypeError(
            f"Budget.usd must be a Decimal, int or str amount, got {type(usd).__name__}"
            + (
                " (floats are not exact: pass a str such as '0.1')"
                if isinstance(usd, float)
                else ""
            )
        )
    try:
        amount = Decimal(usd.strip() if isinstance(usd, str) else usd)
    except InvalidOperation:
        raise ValueError(f"Budget.usd: {usd!r} is not an amount") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"Budget.usd must be a positive amount, got {usd!r}")
    pico = amount * _PICO
    if pico != pico.to_integral_value():
        raise ValueError(f"Budget.usd: {usd!r} has more than 12 decimal places (pico-USD)")
    return amount, int(pico)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"Budget.{name} must be a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class Budget:
    """A spend limit: `usd` per `period` ("call", "day", "week", "month": calendar periods in
    `configure(budget_tz=...)`), for the whole app, or for each value of the tag `per`
    (``per="tenant"``: each tenant on its own), narrowed to calls tagged `where`
    (``{"feature": "agent"}``) and to a `provider` (the id calls are recorded with, such as
    "openai") or a provider's `model`.

    `action`: "block" raises `BudgetExceeded` before an instrumented request leaves, and from
    `check_budget()`, once the period's spend has reached the limit; "raise" raises it from
    `track()` after the call that reaches the limit is recorded, then acts as "block" for the
    scope's next requests; "notify" calls `configure(on_budget=...)` once per `notify_at`
    share reached, per scope and period (see `llmledger.budgets.notify`).
    A "call" budget limits one call's cost, known only after the call: it cannot block.
    `notify_at`: the shares of the limit to notify at, each above 0.

    A `model` budget counts the calls of that model as the price catalog knows it
    (genai-prices' model matching, through `provider`): ``model="gpt-4o"`` counts the calls
    recorded as "gpt-4o", "gpt-4o-2024-08-06" or "GPT-4o" (the model a response names, which
    is often dated), not "gpt-4o-mini", nor a dated name the catalog prices as a model of its
    own ("gpt-4o-2024-05-13"). Before a request, the model the request names is matched the
    same way. A model the catalog does not know matches its exact name only.
    `llmledger prices explain PROVIDER MODEL` shows which entry a name matches.

    `unpriced`: what a call no price covers (cost unknown, recorded as NULL) does to the
    budget. "ignore" (the default) counts it as 0 USD; `llmledger budgets` and
    `budget_status()` show the scope's unpriced calls beside its spend. "block" (a "block"
    budget only) also refuses, before it leaves, a request in the budget's scope whose model
    the configured prices (catalog and overrides) cannot price, raising `BudgetExceeded`
    with `unpriced` set to that model: spend nobody can count is not let through. A request
    whose model is not known before it is sent (`check_budget()` without a model) is not
    refused for it.

    `reserve` (block budgets only) bounds what concurrent calls can overshoot the limit by.
    Without it, a preflight compares the limit with a cached read (up to
    `llmledger.budgets.check.CACHE_SECONDS` old) plus this process's calls not yet written,
    so processes and threads spending at once overshoot by what they start in that window
    and the calls in flight. With it, each instrumented request first reserves its
    worst-case cost in the database (input tokens counted by the BPE tokenizer, output at the
    request's ``max_tokens``/``max_completion_tokens``/``max_output_tokens``), in one atomic
    step that succeeds only while spent + reserved + this call's worst case stays within the
    limit; the writer releases the reservation in the transaction that adds the call's real
    cost. Spent then exceeds the limit only by what calls cost beyond their worst case (see
    `llmledger.budgets.reserve`). The price: a database transaction before every request in
    the budget's scope (no cache); reservations in one scope take turns (a lock per scope),
    which caps how many calls per second that scope can start; and calls are refused while
    others' worst cases are held, though their real cost might still fit.
    A request that names no output cap is refused with `UnboundedRequest` unless
    `reserve_max_tokens` says what to reserve for it.
    """

    period: str
    usd: Decimal | int | str
    per: str | None = None
    where: Mapping[str, str] | None = None
    action: str = "notify"
    notify_at: tuple[float | Decimal | str, ...] = (1.0,)
    provider: str | None = None
    model: str | None = None
    unpriced: str = "ignore"
    reserve: bool = False
    reserve_max_tokens: int | None = None
    limit_pico: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.period not in BUDGET_PERIODS:
            raise ValueError(f"Budget.period must be one of {BUDGET_PERIODS}, got {self.period!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"Budget.action must be one of {ACTIONS}, got {self.action!r}")
        if self.period == "call" and self.action == "block":
            raise ValueError(
                "Budget: a 'call' budget cannot block, a call's cost is known only after it; "
                "use action='raise' or 'notify'"
            )
        if self.unpriced not in UNPRICED:
            raise ValueError(f"Budget.unpriced must be one of {UNPRICED}, got {self.unpriced!r}")
        if self.unpriced == "block" and self.action != "block":
            raise ValueError(
                "Budget: unpriced='block' refuses a request before it leaves, which only a "
                f"'block' budget does; this one is action={self.action!r}"
            )
        amount, limit = _amount(self.usd)
        object.__setattr__(self, "usd", amount)
        object.__setattr__(self, "limit_pico", limit)
        if self.per is not None:
            _text("per", self.per)
        where = dict(self.where or {})
        if not isinstance(self.where, Mapping | None):
            raise TypeError(f"Budget.where must be a dict of tag values, got {self.where!r}")
        for key, value in where.items():
            _text("where key", key)
            _text(f"where[{key!r}]", value)
        if self.per is not None and self.per in where:
            raise ValueError(f"Budget: per={self.per!r} is also in where")
        object.__setattr__(self, "where", tuple(sorted(where.items())))
        if self.provider is not None:
            _text("provider", self.provider)
        if self.model is not None:
            _text("model", self.model)
            if self.provider is None:
                raise ValueError(
                    "Budget.model needs the provider too (one model name is sold by several)"
                )
        object.__setattr__(self, "notify_at", _shares(self.notify_at))
        _check_reserve(self)

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The tag keys of this budget's scopes: those of `where`, and `per`."""
        keys = [k for k, _ in self.where]  # type: ignore[union-attr]
        return tuple(sorted([*keys, self.per] if self.per else keys))

    def scope_of(
        self, tags: Mapping[str, str], provider: str | None, model: str | None
    ) -> Scope | None:
        """The scope a call with these tags, provider and model spends in, or None when the
        budget does not apply to it."""
        for key, value in self.where:  # type: ignore[union-attr]
            if tags.get(key) != value:
                return None
        if self.provider is not None and provider != self.provider:
            return None
        if self.model is not None:
            assert self.provider is not None  # checked in __post_init__
            budgeted = model_key(self.provider, self.model)
            if model is None or model_key(provider, model) != budgeted:  # type: ignore[arg-type]
                return None
        pairs = dict(self.where)  # type: ignore[arg-type]
        if self.per is not None:
            value = tags.get(self.per)
            if value is None:
                return None
            pairs[self.per] = value
        model = None if self.model is None else model_key(self.provider, self.model)  # type: ignore[arg-type]
        return Scope(pairs, self.provider, model)


def _check_reserve(budget: Budget) -> None:
    if not isinstance(budget.reserve, bool):
        raise TypeError(f"Budget.reserve must be True or False, got {budget.reserve!r}")
    if budget.reserve and budget.action != "block":
        raise ValueError("Budget.reserve needs action='block' (it bounds what a block lets by)")
    cap = budget.reserve_max_tokens
    if cap is None:
        return
    if isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0:
        raise ValueError(f"Budget.reserve_max_tokens must be a positive int, got {cap!r}")
    if not budget.reserve:
        raise ValueError("Budget.reserve_max_tokens needs reserve=True")


def _shares(notify_at: Any) -> tuple[Decimal, ...]:
    if isinstance(notify_at, str | bytes) or not isinstance(notify_at, Iterable):
        raise TypeError(f"Budget.notify_at must be a tuple of shares, got {notify_at!r}")
    shares = []
    for share in notify_at:
        if isinstance(share, bool) or not isinstance(share, int | float | Decimal | str):
            raise TypeError(f"Budget.notify_at: {share!r} is not a number")
        try:  # a float share is read from its shortest repr: 0.8 is 8/10
            value = Decimal(repr(share) if isinstance(share, float) else share)
        except InvalidOperation:
            raise ValueError(f"Budget.notify_at: {share!r} is not a number") from None
        if not value.is_finite() or value <= 0:
            raise ValueError(f"Budget.notify_at: each share must be above 0, got {share!r}")
        shares.append(value)
    if not shares:
        raise ValueError("Budget.notify_at needs at least one share")
    return tuple(sorted(set(shares)))


class BudgetExceeded(Exception):
    """A budget's limit was reached. `budget`: the `Budget`; `scope`: whose spend (a
    `llmledger.store.Scope`, e.g. tags ``(("tenant", "acme"),)``); `spent` and `limit`:
    Decimal USD, exact. `spent` is the period's spend when raised before a request (it may
    include calls not yet written), the call's cost for a "call" budget. `unpriced`: None
    when the limit was reached; the request's model when a budget with ``unpriced="block"``
    refused it because no price covers that model (the limit may not be reached). When a
    `reserve` budget refused the request, `spent` also counts the worst cases reserved by
    calls in flight, and `worst_case` is this request's (Decimal USD; None otherwise)."""

    def __init__(
        self,
        budget: Budget,
        scope: Scope,
        spent: Decimal,
        limit: Decimal,
        unpriced: str | None = None,
        worst_case: Decimal | None = None,
    ) -> None:
        self.budget = budget
        self.scope = scope
        self.spent = spent
        self.limit = limit
        self.unpriced = unpriced
        self.worst_case = worst_case
        super().__init__(self._message())

    def _message(self) -> str:
        if self.unpriced is not None:
            return (
                f"{self.budget.period} budget of {self.limit} USD for {self._who()} refuses "
                f"model {self.unpriced!r}, which no price covers (unpriced='block'; spent "
                f"{self.spent} USD)"
            )
        message = f"{self.budget.period} budget of {self.limit} USD reached for {self._who()}: "
        if self.worst_case is None:
            return message + f"spent {self.spent} USD"
        return message + (
            f"spent and reserved {self.spent} USD, and this request may cost up to "
            f"{self.worst_case} USD"
        )

    def _who(self) -> str:
        scope = self.scope
        who = ", ".join(f"{k}={v}" for k, v in scope.tags) or "the whole app"
        if scope.provider:
            who += f" ({scope.provider}{'/' + scope.model if scope.model else ''})"
        return who

    def __reduce__(self):  # picklable, despite the six-argument init (as its own class:
        # capture's SDK-specific subclasses are made at run time)
        kind = UnboundedRequest if isinstance(self, UnboundedRequest) else BudgetExceeded
        arguments = (self.budget, self.scope, self.spent, self.limit)
        return (kind, (*arguments, self.unpriced, self.worst_case))


class UnboundedRequest(BudgetExceeded):
    """A `reserve` budget refused a request whose cost it cannot bound: the request names no
    output cap (``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``,
    ``maxOutputTokens``) and the budget no `reserve_max_tokens`. Nothing was spent."""

    def _message(self) -> str:
        return (
            f"{self.budget.period} budget of {self.limit} USD for {self._who()} reserves each "
            "request's worst-case cost, and this request names no output cap: set max_tokens "
            "(max_completion_tokens, max_output_tokens) on it, or Budget(reserve_max_tokens=...)"
        )


def totals_spec_for(budgets: Iterable[Budget], tz: str) -> TotalsSpec | None:
    """The totals `budgets` read, in zone `tz`; None when none needs totals (only "call"
    budgets, or none). ValueError naming budget_tz for a zone that is not IANA's."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"budget_tz: {tz!r} is not an IANA time zone") from None
    kept = [b for b in budgets if b.period != "call"]
    if not kept:
        return None
    keys = tuple(dict.fromkeys(b.tag_keys for b in kept if b.tag_keys))
    periods = tuple(p for p in PERIODS if any(b.period == p for b in kept))
    models = any(b.provider is not None for b in kept)
    return TotalsSpec(tz, keys, periods, models)
