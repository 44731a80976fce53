"""Fixtures of the prune suite: a migrated engine on each backend (tests/conftest.py), and a
twin: a second fresh database on the same backend, given the same calls and never pruned (or
pruned without interruption), to compare with."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from llmledger.store import make_engine, upgrade

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))  # ledger_rows


@pytest.fixture
def engine(database_url):
    """An engine on a fresh database with the ledger's tables."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def twin(database_url, tmp_path):
    """An engine on a second fresh database with the ledger's tables, on the same backend."""
    url = make_url(database_url)
    admin = None
    if url.get_backend_name() == "sqlite":
        twin_url = f"sqlite:///{tmp_path / 'twin.db'}"
    else:
        name = f"llmledger_twin_{uuid.uuid4().hex[:16]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        twin_url = url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(twin_url)
    upgrade(engine)
    yield engine
    engine.dispose()
    if admin is not None:
        force = " WITH (FORCE)" if url.get_backend_name() == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name}{force}"))
        admin.dispose()
