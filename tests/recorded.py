"""Fixtures of the suites that drive real SDK clients: the fake provider on loopback, and a
fresh embedded ledger the calls land in, read back as a user would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fakeprovider import FakeProvider

import llmledger
from llmledger.store.schema import BUCKETS


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


class Ledger:
    """The embedded SQLite ledger of one test, read back as a user would."""

    def rows(self) -> list[Any]:
        """Every recorded call, oldest first, with `tokens` gathered into one dict and
        `cost_pico` the exact total in pico-USD (None when unpriced)."""
        out = []
        for row in llmledger.calls().to_dicts():  # flushes the writer first
            row["tokens"] = {b: row[b] for b in BUCKETS}
            cost = row["cost"]
            row["cost_pico"] = None if cost is None else int(cost * Decimal(10**12))
            row["tags"] = {k: v for k, v in (row["tags"] or {}).items() if v is not None}
            out.append(SimpleNamespace(**row))
        return out

    def wait_rows(self, count: int, timeout: float = 10.0) -> list[Any]:
        """The rows, once there are `count` of them: for libraries that report a call from a
        thread or task of their own, after the call returned."""
        deadline = time.monotonic() + timeout
        rows = self.rows()
        while len(rows) < count and time.monotonic() < deadline:
            time.sleep(0.02)
            rows = self.rows()
        return rows


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", spool_path=tmp_path / "spool.jsonl")
    yield Ledger()
    llmledger.shutdown()
