"""The overview's budget panel: each budget's status
as that function computes it, formatted by the one money rule; no panel without budgets."""

from __future__ import annotations

import html

import pytest
from starlette.testclient import TestClient

import llmledger
import llmledger.dashboard
from llmledger.budgets.spec import totals_spec_for
from llmledger.money import usd
from llmledger.store import make_engine
from llmledger.store.totals_sql import rebuild_totals

from .conftest import RANGE

BUDGETS = [llmledger.Budget(period="month", usd="100"), llmledger.Budget("day", "1")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_budget_panel(ledger_url):
    engine = make_engine(ledger_url)
    rebuild_totals(engine, totals_spec_for(BUDGETS, "UTC"))  # what an app with them keeps
    with TestClient(llmledger.dashboard.app(engine, budgets=BUDGETS)) as client:
        page = html.unescape(client.get(f"/?{RANGE}").text)
    statuses = llmledger.budget_status(engine, BUDGETS)
    engine.dispose()
    assert "<h2>Budgets</h2>" in page
    assert len(statuses) == 2
    for status in statuses:
        assert usd(status.spent) in page and usd(status.limit) in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_budget_panel_without_totals_says_what_to_do(ledger_url):
    engine = make_engine(ledger_url)
    with TestClient(llmledger.dashboard.app(engine, budgets=BUDGETS)) as client:
        response = client.get(f"/?{RANGE}")
    engine.dispose()
    assert response.status_code == 200
    assert "keeps no spend totals yet" in response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_budget_panel_without_budgets(client):
    assert "<h2>Budgets</h2>" not in client.get(f"/?{RANGE}").text
