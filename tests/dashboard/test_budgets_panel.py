"""The overview's budget panel, once `llmledger.budget_status` exists: each budget's status
as that function computes it, formatted by the one money rule; no panel without budgets."""

from __future__ import annotations

import html

import pytest
from starlette.testclient import TestClient

import llmledger
import llmledger.dashboard
from llmledger.money import usd
from llmledger.store import make_engine

from .conftest import RANGE


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_budget_panel(ledger_url):
    if not hasattr(llmledger, "budget_status"):
        pytest.skip("llmledger.budget_status is not in this tree yet")
    budgets = [llmledger.Budget(period="month", usd="100"), llmledger.Budget("day", "1")]
    engine = make_engine(ledger_url)
    with TestClient(llmledger.dashboard.app(engine, budgets=budgets)) as client:
        page = html.unescape(client.get(f"/?{RANGE}").text)
    statuses = llmledger.budget_status(engine, budgets)
    engine.dispose()
    assert "<h2>Budgets</h2>" in page
    for status in statuses:
        assert usd(status.spent) in page and usd(status.limit) in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_budget_panel_without_budgets(client):
    assert "<h2>Budgets</h2>" not in client.get(f"/?{RANGE}").text
