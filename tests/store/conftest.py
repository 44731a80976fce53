"""Storage-suite fixtures: a migrated engine on each backend (see tests/conftest.py)."""

from __future__ import annotations

import pytest

from llmledger.store import make_engine, upgrade


@pytest.fixture
def engine(database_url):
    """An engine on a fresh database with the ledger's tables."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()
