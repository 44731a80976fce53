"""A budget's `model` is the model as the price catalog knows it: the dated names a response
gives ("gpt-4o-2024-08-06") count for "gpt-4o", another model ("gpt-4o-mini", or the
"gpt-4o-2024-05-13" the catalog prices on its own) does not; on each database."""

from __future__ import annotations

from decimal import Decimal

import pytest

import llmledger
from llmledger.budgets import preflight
from llmledger.budgets.spec import totals_spec_for
from llmledger.store import Scope, make_engine, upgrade
from llmledger.store.totals import TotalsSpec, catalog_id, model_key

QUARTER = {"input_tokens": 100_000}  # 0.25 USD of gpt-4o (2.50 per million)


@pytest.fixture
def ledger(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    yield database_url
    llmledger.shutdown()  # before the database is dropped


@pytest.fixture(autouse=True)
def clean():
    llmledger.shutdown()
    preflight.problems.clear()
    yield
    llmledger.shutdown()


def test_a_model_budget_counts_every_name_of_that_model(ledger) -> None:
    budget = llmledger.Budget("day", usd="0.75", provider="openai", model="gpt-4o",
                              action="block")  # fmt: skip
    llmledger.configure(ledger, budgets=[budget])
    for name in ("gpt-4o-2024-08-06", "GPT-4o"):  # 0.25 each
        llmledger.track("openai", name, **QUARTER)
    llmledger.track("openai", "gpt-4o-mini-2024-07-18", **QUARTER)  # another model
    llmledger.track("openai", "gpt-4o-2024-05-13", **QUARTER)  # priced as a model of its own
    llmledger.check_budget("openai", "gpt-4o")  # 0.50 of 0.75
    llmledger.track("openai", "gpt-4o-2024-11-20", **QUARTER)
    for name in ("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"):
        with pytest.raises(llmledger.BudgetExceeded) as raised:
            llmledger.check_budget("openai", name)
        assert (raised.value.spent, raised.value.scope) == (
            Decimal("0.75"),
            Scope(provider="openai", model="gpt-4o"),
        )
    llmledger.check_budget("openai", "gpt-4o-mini")
    llmledger.check_budget("openai", "gpt-4o-2024-05-13")
    assert llmledger.flush() is True

    # What was written reads the same: a new process, and the status.
    llmledger.configure(ledger, budgets=[budget])
    with pytest.raises(llmledger.BudgetExceeded):
        llmledger.check_budget("openai", "gpt-4o-2024-08-06")
    [status] = llmledger.budget_status(ledger, [budget])
    assert (status.scope.model, status.spent) == ("gpt-4o", Decimal("0.75"))
    assert preflight.problems == {}


def test_a_model_the_catalog_does_not_know_matches_its_exact_name(ledger) -> None:
    budget = llmledger.Budget("day", usd="1", provider="acme", model="house-v1", action="block")
    assert budget.scope_of({}, "acme", "house-v1") == Scope(provider="acme", model="house-v1")
    assert budget.scope_of({}, "acme", "house-v1-2026-01-01") is None
    assert budget.scope_of({}, "acme", "House-V1") is None
    assert model_key("openai", "GPT-4o-2024-08-06") == "gpt-4o"


def test_totals_kept_before_models_had_catalog_names_are_rebuilt() -> None:
    spec = totals_spec_for([llmledger.Budget("week", usd=1, provider="openai")], "UTC")
    assert spec.model_names == catalog_id()
    assert TotalsSpec.from_json(spec.as_json()) == spec
    older = {k: v for k, v in spec.as_json().items() if k != "model_names"}
    assert TotalsSpec.from_json(older) != spec  # so the first writer rebuilds them
    assert totals_spec_for([llmledger.Budget("week", usd=1)], "UTC").model_names is None
