"""Reading the ledger back."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import polars as pl

from .config import flush, state
from .store.filters import window
from .store.read import CALL_SCHEMA, read_calls

__all__ = ["calls"]

log = logging.getLogger("llmledger")

# Seconds `calls()` waits for pending rows before reading without them: a writer held up by
# a locked or unreachable database must not hold up a read (SQLite waits 30 s for a lock).
FLUSH_BEFORE_READ = 35.0


def calls(
    since: dt.datetime | dt.date | str | None = None,
    until: dt.datetime | dt.date | str | None = None,
    **filters: Any,
) -> pl.DataFrame:
    """The recorded calls, one row each, oldest first, as a Polars frame.

    Pending rows are written first (waiting `FLUSH_BEFORE_READ` seconds at most). `since` is
    inclusive, `until` exclusive (naive times are UTC); keyword arguments filter on a column
    (`calls(provider="openai")`) or else a tag (`calls(tenant="acme")`), None keeping the
    calls without it; a tag no call of the window has gives an `llmledger.UnknownTagWarning`
    naming the tags that exist, and `since` at or after `until` a `ValueError`. `cost` is a
    Polars Decimal in USD, null for unpriced calls; `backfilled_cost` (and its rule,
    `backfilled_price_*`) is the price `llmledger reaggregate` found later for a call recorded
    unpriced, so a call's cost is `cost`, else `backfilled_cost`.

    While recording is off (`configure(enabled=False)`) no database is opened: the frame is
    empty, with the same columns.
    """
    st = state()
    if st.engine is None:
        window(since, until)  # the same ValueError for a window running backwards
        return _empty()
    if not flush(timeout=FLUSH_BEFORE_READ):
        log.warning("llmledger: calls() reads before every pending row could be written")
    return read_calls(st.engine, since=since, until=until, **filters)


def _empty() -> pl.DataFrame:
    """The frame of a ledger without calls, as `read_calls` gives it."""
    columns = {name: dtype for name, dtype in CALL_SCHEMA.items() if name != "raw_usage"}
    return pl.DataFrame(schema={**columns, "tags": pl.Struct([]), "raw_usage": pl.String})
