import pytest

import llmledger


@pytest.fixture
def ledger(tmp_path):
    llmledger.configure(f"sqlite:///{tmp_path / 'bench.db'}", spool_path=tmp_path / "spool.jsonl")
    yield
    llmledger.shutdown()
