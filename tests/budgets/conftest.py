"""Fixtures of the budgets suite: a migrated engine on each backend (tests/conftest.py), and
the loopback provider the real SDK clients call."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fakeprovider import FakeProvider

from llmledger.store import make_engine, upgrade

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))  # ledger_rows


@pytest.fixture
def engine(database_url):
    """An engine on a fresh database with the ledger's tables."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def fake():
    """The loopback provider server, one per test module."""
    server = FakeProvider().start()
    yield server
    server.stop()
