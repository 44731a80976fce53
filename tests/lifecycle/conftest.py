"""Fixtures: the fake provider on loopback, a fresh SQLite ledger, a clean switch and hook."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

from fakeprovider import FakeProvider

import llmledger
from llmledger.record import hooks


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No configuration, no switch in the environment, and a fresh hook counter, before each test;
    the configuration a test made is shut down after it."""
    llmledger.shutdown()
    monkeypatch.delenv("LLMLEDGER_ENABLED", raising=False)
    hooks.problems.clear()
    monkeypatch.setattr(hooks, "_types_said", set())
    yield
    llmledger.shutdown()


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"
