"""Fixtures: the fake provider on loopback, and a fresh ledger the captured calls land in."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

from recorded import fake, ledger  # noqa: F401  (fixtures of this suite)
