"""Fixtures: the fake provider on loopback, a fresh ledger, and the rows it holds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for fakeprovider

# LiteLLM fetches its cost map from the internet when imported, unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from recorded import fake, ledger  # noqa: F401  (fixtures of this suite)
