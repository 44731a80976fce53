"""`Budget` is checked where the user builds it, and a list of budgets says which totals the
writer keeps."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

import llmledger
from llmledger.budgets.spec import totals_spec_for
from llmledger.store import Scope, TotalsSpec


def test_amounts_are_exact_and_kept_in_pico_usd() -> None:
    assert llmledger.Budget("day", usd=5).limit_pico == 5 * 10**12
    assert llmledger.Budget("day", usd="0.000000000001").limit_pico == 1
    assert llmledger.Budget("month", usd=Decimal("199.99")).usd == Decimal("199.99")
    assert llmledger.Budget("week", usd=" 2.5 ").limit_pico == 2_500_000_000_000


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"period": "year", "usd": 1}, ValueError, "Budget.period"),
        ({"period": "day", "usd": 0.1}, TypeError, "floats are not exact"),
        ({"period": "day", "usd": True}, TypeError, "Budget.usd"),
        ({"period": "day", "usd": "ten"}, ValueError, "Budget.usd"),
        ({"period": "day", "usd": 0}, ValueError, "positive"),
        ({"period": "day", "usd": "-1"}, ValueError, "positive"),
        ({"period": "day", "usd": "NaN"}, ValueError, "positive"),
        ({"period": "day", "usd": "0.0000000000001"}, ValueError, "12 decimal places"),
        ({"period": "day", "usd": 1, "action": "stop"}, ValueError, "Budget.action"),
        ({"period": "call", "usd": 1, "action": "block"}, ValueError, "cannot block"),
        ({"period": "day", "usd": 1, "per": ""}, TypeError, "Budget.per"),
        ({"period": "day", "usd": 1, "where": {"feature": 3}}, TypeError, "where\\['feature'\\]"),
        ({"period": "day", "usd": 1, "where": [("a", "b")]}, TypeError, "Budget.where"),
        ({"period": "day", "usd": 1, "per": "t", "where": {"t": "x"}}, ValueError, "also in where"),
        ({"period": "day", "usd": 1, "model": "gpt-4o"}, ValueError, "needs the provider"),
        ({"period": "day", "usd": 1, "notify_at": ()}, ValueError, "at least one"),
        ({"period": "day", "usd": 1, "notify_at": (0,)}, ValueError, "above 0"),
        ({"period": "day", "usd": 1, "notify_at": 0.5}, TypeError, "notify_at"),
    ],
)
def test_bad_budgets_are_refused_naming_the_field(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        llmledger.Budget(**kwargs)


def test_shares_are_read_from_their_decimal_form() -> None:
    budget = llmledger.Budget("month", usd=200, notify_at=(0.8, "0.5", 1))
    assert budget.notify_at == (Decimal("0.5"), Decimal("0.8"), Decimal(1))


def test_scope_of_a_call() -> None:
    budget = llmledger.Budget("day", usd=1, per="tenant", where={"feature": "agent"})
    tags = {"tenant": "acme", "feature": "agent", "user": "u1"}
    assert budget.scope_of(tags, "openai", "gpt-4o") == Scope(
        {"feature": "agent", "tenant": "acme"}
    )
    assert budget.scope_of({"tenant": "acme", "feature": "chat"}, "openai", "gpt-4o") is None
    assert budget.scope_of({"feature": "agent"}, "openai", "gpt-4o") is None  # no tenant
    narrowed = llmledger.Budget("day", usd=1, provider="openai", model="gpt-4o")
    assert narrowed.scope_of({}, "openai", "gpt-4o") == Scope(provider="openai", model="gpt-4o")
    assert narrowed.scope_of({}, "openai", "gpt-4o-mini") is None


def test_the_totals_a_list_of_budgets_needs() -> None:
    budgets = [
        llmledger.Budget("month", usd=500),
        llmledger.Budget("day", usd=5, per="tenant", action="block"),
        llmledger.Budget("month", usd=200, where={"feature": "agent"}, per="tenant"),
        llmledger.Budget("call", usd=2, action="raise"),
    ]
    spec = totals_spec_for(budgets, "Europe/Berlin")
    assert spec == TotalsSpec("Europe/Berlin", ("tenant", ("feature", "tenant")), ("day", "month"))
    assert spec.groups == ((), ("tenant",), ("feature", "tenant")) and not spec.models
    with_model = totals_spec_for([llmledger.Budget("week", usd=1, provider="openai")], "UTC")
    assert with_model == TotalsSpec("UTC", (), ("week",), models=True)
    assert totals_spec_for([llmledger.Budget("call", usd=1, action="raise")], "UTC") is None
    with pytest.raises(ValueError, match="budget_tz"):
        totals_spec_for(budgets, "Mars/Olympus")


def test_configure_refuses_what_is_not_a_budget_list(tmp_path) -> None:
    with pytest.raises(TypeError, match="budgets must be a list"):
        llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[{"period": "day"}])
    with pytest.raises(ValueError, match="budget_tz"):
        llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budget_tz="nowhere")
    llmledger.shutdown()


def test_budget_exceeded_carries_exact_amounts_and_pickles() -> None:
    budget = llmledger.Budget("day", usd="0.5", per="tenant", action="block")
    error = llmledger.BudgetExceeded(budget, Scope({"tenant": "acme"}), Decimal("0.6"), budget.usd)
    assert (error.budget, error.spent, error.limit) == (budget, Decimal("0.6"), Decimal("0.5"))
    assert str(error) == "day budget of 0.5 USD reached for tenant=acme: spent 0.6 USD"
    again = pickle.loads(pickle.dumps(error))
    assert (again.scope, again.spent) == (error.scope, error.spent)


def test_budgets_on_a_database_that_cannot_keep_totals_are_refused_at_configure(
    tmp_path, monkeypatch
) -> None:
    # SQLite before 3.35 has no INSERT ... RETURNING: configure() says so, where the user
    # called it, instead of every row waiting in the spool for a writer that cannot add them.
    import sqlite3

    from llmledger.store.totals_sql import TotalsNotSupported

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    with pytest.raises(TotalsNotSupported, match=r"SQLite 3\.35\+"):
        llmledger.configure(
            f"sqlite:///{tmp_path / 'ledger.db'}", budgets=[llmledger.Budget("day", usd=5)]
        )
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}")  # without budgets: as ever
    llmledger.shutdown()
