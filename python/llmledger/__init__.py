"""llmledger: a ledger of what your app's LLM calls cost, exact and tagged, in your database.

import llmledger
llmledger.configure(database_url="sqlite:///llmledger.db")
with llmledger.tags(feature="chat", tenant="acme"):
    llmledger.track("openai", "gpt-4o", input_tokens=1200, output_tokens=300)
llmledger.calls()   # polars.DataFrame
"""

from __future__ import annotations

from ._core import BUCKETS
from .analytics import reprice, rollup
from .capture import (
    async_httpx_client,
    httpx_client,
    instrument,
    is_instrumented,
    register_host,
    uninstrument,
)
from .config import configure, flush, shutdown
from .pricing import OverridesError, PriceRule
from .read import calls
from .reaggregate import reaggregate
from .record.call import Call, Quote
from .record.recorder import quote, track
from .tagging import tags

__all__ = [
    "BUCKETS",
    "Call",
    "OverridesError",
    "PriceRule",
    "Quote",
    "async_httpx_client",
    "calls",
    "configure",
    "flush",
    "httpx_client",
    "instrument",
    "is_instrumented",
    "quote",
    "reaggregate",
    "register_host",
    "reprice",
    "rollup",
    "shutdown",
    "tags",
    "track",
    "uninstrument",
]
