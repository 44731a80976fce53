"""`check_budget()` and "raise" budgets through `track()`, on each database: exact spend,
counted from the totals the database keeps plus the calls not written yet."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

import llmledger
from llmledger.budgets import preflight
from llmledger.store import Scope, make_engine, upgrade

# 100,000 input tokens of gpt-4o at 2.50 USD per million: 0.25 USD a call.
MODEL = "gpt-4o-2024-08-06"
QUARTER = {"input_tokens": 100_000}


@pytest.fixture
def ledger(database_url):
    """`database_url` with the ledger's tables (PostgreSQL and MariaDB need an upgrade)."""
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    yield database_url
    llmledger.shutdown()  # before the database is dropped, or its last rows go to a spool


@pytest.fixture(autouse=True)
def clean():
    llmledger.shutdown()
    preflight.problems.clear()
    yield
    llmledger.shutdown()


def spend(n: int, **tags: str) -> None:
    with llmledger.tags(**tags):
        for _ in range(n):
            llmledger.track("openai", MODEL, **QUARTER)


def test_a_block_budget_counts_calls_written_and_not_yet_written(ledger) -> None:
    daily = llmledger.Budget("day", usd=1, per="tenant", action="block")
    llmledger.configure(ledger, budgets=[daily])
    spend(3, tenant="acme")  # not flushed: some or all still queued
    llmledger.check_budget(tenant="acme")
    spend(1, tenant="acme")
    with pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.check_budget(tenant="acme")
    error = raised.value
    assert (error.budget, error.scope) == (daily, Scope({"tenant": "acme"}))
    assert (error.spent, error.limit) == (Decimal("1.00"), Decimal(1))
    with llmledger.tags(tenant="acme"), pytest.raises(llmledger.BudgetExceeded):
        llmledger.check_budget()  # the scope's tags count
    llmledger.check_budget(tenant="globex")  # another tenant spent nothing
    llmledger.check_budget()  # no tenant: the per-tenant budget does not apply
    assert llmledger.flush() is True

    # A new process (here: a new configuration) reads the same spend from the database.
    llmledger.configure(ledger, budgets=[daily])
    with pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.check_budget(tenant="acme")
    assert raised.value.spent == Decimal("1.00")
    llmledger.check_budget(tenant="globex")
    assert preflight.problems == {}


def test_where_and_model_narrow_a_budget(ledger) -> None:
    budgets = [
        llmledger.Budget("month", usd="0.5", where={"feature": "agent"}, action="block"),
        llmledger.Budget("week", usd="0.75", provider="openai", model=MODEL, action="block"),
    ]
    llmledger.configure(ledger, budgets=budgets)
    spend(2, feature="agent")
    with pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.check_budget(feature="agent")
    assert (raised.value.budget, raised.value.spent) == (budgets[0], Decimal("0.5"))
    llmledger.check_budget("openai", MODEL, feature="chat")  # 0.5 of 0.75 for the model
    spend(1, feature="chat")
    with pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.check_budget("openai", MODEL, feature="chat")
    assert (raised.value.budget, raised.value.spent) == (budgets[1], Decimal("0.75"))
    llmledger.check_budget("openai", "gpt-4o-mini", feature="chat")
    llmledger.check_budget(feature="chat")  # no model named: the model budget does not apply


def test_a_raise_budget_raises_after_recording_the_call(ledger) -> None:
    budget = llmledger.Budget("day", usd="0.5", per="tenant", action="raise")
    llmledger.configure(ledger, budgets=[budget])
    spend(1, tenant="acme")
    with llmledger.tags(tenant="acme"), pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.track("openai", MODEL, **QUARTER)
    assert (raised.value.spent, raised.value.limit) == (Decimal("0.5"), Decimal("0.5"))
    spend(1, tenant="globex")
    with pytest.raises(llmledger.BudgetExceeded):  # reached: checked before the next call too
        llmledger.check_budget(tenant="acme")
    assert llmledger.calls(tenant="acme")["cost"].to_list() == [Decimal("0.25")] * 2  # recorded
    assert llmledger.calls(tenant="globex").height == 1


def test_a_call_budget_limits_one_calls_cost(tmp_path) -> None:
    budget = llmledger.Budget("call", usd="0.3", action="raise")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[budget])
    llmledger.track("openai", MODEL, **QUARTER)
    with pytest.raises(llmledger.BudgetExceeded) as raised:
        llmledger.track("openai", MODEL, input_tokens=200_000)
    assert (raised.value.spent, raised.value.limit) == (Decimal("0.5"), Decimal("0.3"))
    llmledger.check_budget()  # a call budget acts after the call only
    assert llmledger.calls().height == 2


def test_nothing_is_checked_while_recording_is_off(tmp_path) -> None:
    budget = llmledger.Budget("call", usd="0.3", action="raise")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[budget], enabled=False)
    llmledger.track("openai", MODEL, input_tokens=200_000)
    llmledger.check_budget()


def test_a_budget_that_cannot_be_read_lets_the_call_through(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    budgets = [
        llmledger.Budget("day", usd="0.1", action="block"),
        llmledger.Budget("week", usd=1, action="raise"),
    ]
    llmledger.configure(url, budgets=budgets)
    spend(1)
    assert llmledger.flush() is True
    llmledger.configure(url, budgets=budgets)  # a fresh cache
    with llmledger.config.state().engine.begin() as connection:
        connection.execute(text("DROP TABLE llmledger_spend_totals"))
    llmledger.check_budget()  # logged and counted, not raised
    call = llmledger.track("openai", MODEL, **QUARTER)  # recorded, returned
    assert call.cost_pico == 250_000_000_000
    assert preflight.problems == {"preflight": 1, "after_call": 1}
