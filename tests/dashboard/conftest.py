"""A small ledger with known figures on each backend, and the dashboard over it.

Fourteen days of calls (2026-10-01 to 2026-10-14) to two priced models and one no catalog
prices, a spike on 2026-10-12 (ten times a normal day's calls, each 150 times larger), tag
values and a model name written to break HTML and spreadsheets, two failed calls and one
estimated stream.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

import llmledger
import llmledger.dashboard
from llmledger.config import state
from llmledger.store import make_engine, upgrade

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DAYS = 14
SPIKE = dt.date(2026, 10, 12)
HOSTILE_VALUE = "<script>alert('x')</script>"
FORMULA_VALUE = "=cmd|' /C calc'!A0"
HOSTILE_MODEL = "<img src=x onerror=alert(1)>"
HOSTILE_KEY = "<b>k</b>"
RANGE = "from=2026-10-01&to=2026-10-14"


def _calls():
    """Every call of the ledger: (provider, model, at, tokens, tags), deterministic."""
    tenants = ["acme", "globex", HOSTILE_VALUE, FORMULA_VALUE]
    models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]
    for day in range(DAYS):
        moment = START + dt.timedelta(days=day)
        per_day = 40 if moment.date() == SPIKE else 4
        for i in range(per_day):
            provider, model = models[i % 2]
            at = moment + dt.timedelta(minutes=7 * i + day)
            tags = {"tenant": tenants[(i + day) % 4], "feature": ["chat", "search"][i % 2]}
            size = 150_000 if moment.date() == SPIKE else 1000  # a spike of dollars, not cents
            yield provider, model, at, size + 10 * i + day, 200 + i, tags
        yield (
            "acme-gateway",
            HOSTILE_MODEL,
            moment + dt.timedelta(hours=20),
            500,
            5,
            {HOSTILE_KEY: FORMULA_VALUE},
        )


@pytest.fixture
def ledger_url(database_url, tmp_path):
    """The ledger above on each backend, recorded through `track()`, its URL."""
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    llmledger.configure(database_url, spool_path=tmp_path / "spool.jsonl")
    for provider, model, at, input_tokens, output_tokens, tags in _calls():
        llmledger.track(
            provider,
            model,
            at=at,
            latency_ms=100.0 + input_tokens % 97,
            tags=tags,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
    writer_engine = state().engine
    llmledger.shutdown()
    writer_engine.dispose()
    engine = make_engine(database_url)
    with engine.begin() as connection:  # what track() cannot record: failures, an estimate
        first_ids = (
            connection.execute(
                text("SELECT id FROM llmledger_calls WHERE provider = 'openai' ORDER BY id LIMIT 3")
            )
            .scalars()
            .all()
        )
        connection.execute(
            text(
                "UPDATE llmledger_calls SET status = 'error', http_status = 500"
                " WHERE id IN (:a, :b)"
            ),
            {"a": first_ids[0], "b": first_ids[1]},
        )
        connection.execute(
            text("UPDATE llmledger_calls SET usage_source = 'estimated' WHERE id = :c"),
            {"c": first_ids[2]},
        )
    engine.dispose()
    return database_url


@pytest.fixture
def client(ledger_url):
    engine = make_engine(ledger_url)
    with TestClient(llmledger.dashboard.app(engine)) as test_client:
        yield test_client
    engine.dispose()
