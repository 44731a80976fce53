"""llmledger: a ledger of what your app's LLM calls cost, exact and tagged, in your database.

import llmledger
llmledger.configure(database_url="sqlite:///llmledger.db")
with llmledger.tags(feature="chat", tenant="acme"):
    llmledger.track("openai", "gpt-4o", input_tokens=1200, output_tokens=300)
llmledger.calls()   # polars.DataFrame
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from typing import Any

from sqlalchemy import Engine

from . import capture, config
from ._core import BUCKETS
from .analytics import reprice, rollup
from .budgets import Budget, BudgetExceeded, UnboundedRequest
from .budgets.notify import BudgetEvent
from .budgets.preflight import check_budget
from .budgets.status import BudgetStatus, TotalsNotKept, budget_status
from .capture import (
    async_httpx_client,
    httpx_client,
    instrument,
    is_instrumented,
    register_host,
    track_stream,
    uninstrument,
)
from .config import DefaultTags, OnBudget, OnCall, flush, shutdown
from .health import Health, health
from .pricing import OverridesError, PriceRule
from .prune import PruneRefused, prune
from .read import calls
from .reaggregate import reaggregate
from .record.call import Call, Quote
from .record.recorder import quote, track
from .store.filters import UnknownTagWarning
from .tagging import bind_tags, tags

__all__ = [
    "BUCKETS",
    "Budget",
    "BudgetEvent",
    "BudgetExceeded",
    "BudgetStatus",
    "Call",
    "Health",
    "OverridesError",
    "PriceRule",
    "PruneRefused",
    "Quote",
    "TotalsNotKept",
    "UnboundedRequest",
    "UnknownTagWarning",
    "async_httpx_client",
    "bind_tags",
    "budget_status",
    "calls",
    "check_budget",
    "configure",
    "flush",
    "health",
    "httpx_client",
    "instrument",
    "is_instrumented",
    "prune",
    "quote",
    "reaggregate",
    "register_host",
    "reprice",
    "rollup",
    "shutdown",
    "tags",
    "track",
    "track_stream",
    "uninstrument",
]


def configure(
    database_url: str | Engine | None = None,
    *,
    default_tags: DefaultTags = None,
    price_overrides: Mapping[str, Any] | str | PathLike[str] | None = None,
    spool_path: str | PathLike[str] | None = None,
    hosts: Mapping[str, str | tuple[str, str]] | None = None,
    enabled: bool | None = None,
    on_call: OnCall | None = None,
    budgets: list[Budget] | tuple[Budget, ...] = (),
    on_budget: OnBudget | None = None,
    budget_tz: str = "UTC",
) -> None:
    """Sets where and how calls are recorded.

    `database_url` is a SQLAlchemy URL (`sqlite:///...`, `postgresql+psycopg://...`,
    `mysql+pymysql://...`), a bare SQLite file path, `postgres://` / `postgresql://`
    (psycopg), `mysql://` / `mariadb://` (PyMySQL), or an `Engine`; default
    `LLMLEDGER_DATABASE_URL`, else `sqlite:///llmledger.db`. A new SQLite file gets its tables
    created; on PostgreSQL and MySQL run `llmledger db upgrade` first. A database that does
    not answer now is an outage like any later one, not an error: calls are spooled and
    written once it answers, and the schema is checked then; a database that answers without
    the ledger's tables raises `SchemaNotReadyError` here.

    `default_tags` is a dict, or a callable evaluated per call. `price_overrides` is a dict or
    a JSON/TOML file (see `llmledger.pricing.overrides`). `spool_path` is where rows wait
    while the database is unavailable (default: beside a SQLite file, else a file named after
    the database in the working directory). `hosts` adds OpenAI-compatible (or Anthropic- or
    Google-format) hosts to capture's registry:
    `{"llm.internal:8000": "openai", ".gateway.example": ("acme", "anthropic")}`.

    `enabled=False` (or, when `enabled` is None, the environment's `LLMLEDGER_ENABLED` set to
    0, false, no or off, in any case; another word is a ValueError here) turns recording off:
    no database is opened or created, instrumented clients pass every request straight
    through (one flag read each), `track()` checks, prices and returns its call without
    writing it, `track_stream()` records nothing, `calls()` is an empty frame and `flush()`
    True. `enabled=True` records whatever the environment says.

    `on_call(call)` is called with each recorded `Call` (`track()`'s and captured ones),
    priced and tagged, once, on the ledger's writer thread, never the app's: a slow hook
    delays the writing of later calls, not the app. What it raises is logged once per
    exception type and counted in `llmledger.record.hooks.problems` (see that module).

    `budgets` is a list of `llmledger.Budget`; day, week and month periods are calendar
    periods in `budget_tz` (an IANA zone, UTC by default). The writer then keeps the spend
    totals they read (in each insert's transaction); every process writing one database
    must configure the same budget scopes and zone, or the first writer of a new set rebuilds
    the totals. "block" budgets (and "raise" budgets once reached) are checked before each
    request of an instrumented client leaves, and by `llmledger.check_budget()`: see there
    for what a check counts and how stale it may be. `on_budget(event)` gets a
    `llmledger.BudgetEvent` once per "notify" budget, scope, period and `notify_at` share
    reached, across processes and restarts (crossings are recorded in the database), on the
    writer thread after the call that crossed is written; what it raises is logged and
    counted in `llmledger.budgets.preflight.problems`. Budgets are not checked while
    recording is off.
    """
    config.configure(
        database_url,
        default_tags=default_tags,
        price_overrides=price_overrides,
        spool_path=spool_path,
        enabled=enabled,
        on_call=on_call,
        budgets=budgets,
        on_budget=on_budget,
        budget_tz=budget_tz,
    )
    capture.configure(hosts=hosts)
