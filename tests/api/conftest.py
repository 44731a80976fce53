import pytest

import llmledger


@pytest.fixture
def ledger(tmp_path):
    """A fresh embedded SQLite ledger, configured as a user would."""
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", spool_path=tmp_path / "spool.jsonl")
    yield
    llmledger.shutdown()
