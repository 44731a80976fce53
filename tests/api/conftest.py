import pytest

import llmledger
from llmledger.config import state
from llmledger.store import make_engine, upgrade


@pytest.fixture
def ledger(tmp_path):
    """A fresh embedded SQLite ledger, configured as a user would."""
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", spool_path=tmp_path / "spool.jsonl")
    yield
    llmledger.shutdown()


@pytest.fixture
def any_ledger(database_url, tmp_path):
    """A fresh ledger on each backend (SQLite, PostgreSQL, MySQL/MariaDB), migrated as
    `llmledger db upgrade` does, then configured as a user would."""
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    llmledger.configure(database_url, spool_path=tmp_path / "spool.jsonl")
    engine = state().engine
    yield
    llmledger.shutdown()
    engine.dispose()  # shutdown() leaves the engine's pool open; the database is dropped next
