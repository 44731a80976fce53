"""Fixtures: the fake provider on loopback, a fresh ledger, and the rows it holds.

Prices (USD per million tokens, the catalog in force in 2026): gpt-4o-mini 0.15 in, 0.075
cached, 0.60 out; claude-haiku-4-5 1.00 in, 0.10 cache read, 1.25 cache write (5 min), 2.00
cache write (1 h), 5.00 out. $X per million tokens is X * 1e6 pico-USD per token.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

# LiteLLM fetches its cost map from the internet when imported, unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fakeprovider import FakeProvider

import llmledger
from llmledger.store.schema import BUCKETS

# The fixtures' usage and costs, worked out by hand (see the module docstring).
CHAT = {"input_tokens": 86, "cache_read_tokens": 1920, "output_tokens": 300}
CHAT_COST = 86 * 150_000 + 1920 * 75_000 + 300 * 600_000  # 336_900_000
CHAT_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
CHAT_STREAM = {"input_tokens": 19, "output_tokens": 10}
CHAT_STREAM_COST = 19 * 150_000 + 10 * 600_000  # 8_850_000
CHAT_STREAM_ID = "chatcmpl-C2fGZ8u4Vq0rj3wTnKx1d9Yb7Hs5A"


def tokens(**given: int) -> dict[str, int]:
    """All eight buckets, zero but those given."""
    return {b: given.get(b, 0) for b in BUCKETS}


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
        llmledger.flush()
        out = []
        for row in llmledger.calls().to_dicts():
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
