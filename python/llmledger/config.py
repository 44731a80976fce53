"""Process-wide configuration: the database, the background writer, the pricer, default tags.

The bottom of the recording path: capture and the recorder read the state through `state()`,
and nothing here imports them (`llmledger.configure` also hands capture its hosts).
`configure()` may be called again (tests, reconfiguration); the previous writer is flushed and
closed first. Without a call, the first recorded call configures the defaults:
`LLMLEDGER_DATABASE_URL`, else `sqlite:///llmledger.db`.

The kill switch lives here too, at the bottom of the graph, because capture asks it on every
request: `enabled()` is one global read once the switch is known. While it is off no
database is opened and nothing is recorded; `State` then holds the pricer alone, so
`track()` still prices and returns its call.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from .budgets.check import Guard
from .budgets.notify import Notifier
from .budgets.spec import Budget, totals_spec_for
from .pricing import Pricer, build_pricer
from .store import SchemaNotReadyError, ensure_schema, make_engine
from .store.failures import describe
from .store.totals_sql import TotalsNotSupported, require_returning
from .store.writer import Writer
from .tagging import resolve_defaults

__all__ = [
    "DEFAULT_DATABASE_URL",
    "State",
    "configure",
    "configured",
    "current_pricer",
    "enabled",
    "flush",
    "resolve_database_url",
    "shutdown",
    "state",
]

log = logging.getLogger("llmledger")

DEFAULT_DATABASE_URL = "sqlite:///llmledger.db"


def resolve_database_url(given: str | None = None) -> str:
    """`given`, else `LLMLEDGER_DATABASE_URL`, else `DEFAULT_DATABASE_URL`: the one rule for
    `configure()` and every command."""
    return given or os.environ.get("LLMLEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL


DefaultTags = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None
OnCall = Callable[[Any], object]  # receives a `llmledger.Call`; its return value is ignored
OnBudget = Callable[[Any], object]  # receives a `llmledger.BudgetEvent`

# What LLMLEDGER_ENABLED may say, compared case-insensitively, spaces around ignored. Empty
# or unset means on: recording is the default.
_SWITCH_WORDS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def _enabled_from_env() -> bool:
    """`LLMLEDGER_ENABLED` read as a switch; ValueError, naming it, for any other word."""
    raw = os.environ.get("LLMLEDGER_ENABLED", "")
    word = raw.strip().lower()
    if not word:
        return True
    try:
        return _SWITCH_WORDS[word]
    except KeyError:
        raise ValueError(
            f"LLMLEDGER_ENABLED={raw!r} is not a switch: 0, false, no or off turn recording "
            "off; 1, true, yes, on or empty keep it on (case does not matter)"
        ) from None


@dataclass
class State:
    """What recording needs; replaced whole by `configure()`. With recording off
    (`configure(enabled=False)`) `engine` and `writer` are None: no database is opened."""

    engine: Engine | None
    writer: Writer | None
    pricer: Pricer
    default_tags: DefaultTags
    owns_engine: bool = True  # made here from a URL, not the app's own Engine
    on_call: OnCall | None = None
    guard: Guard | None = None  # the budgets, when some are configured and recording is on

    def close(self) -> None:
        """Write what is queued, stop the writer, and close the connections made here."""
        if self.writer is not None:
            self.writer.close()
        if self.owns_engine and self.engine is not None:
            self.engine.dispose()


_state: State | None = None
# The kill switch as configured, or as LLMLEDGER_ENABLED says before any configure(); None
# until one of them has been read. Set under `_state_lock`, read without it.
_enabled: bool | None = None
# Re-entrant: the first use configures the defaults while holding it.
_state_lock = threading.RLock()
_bad_switch_said = False


def enabled() -> bool:
    """Whether calls are recorded: `configure(enabled=...)`, else `LLMLEDGER_ENABLED`, else
    True. Never raises and never configures anything: capture asks it on every request.

    Before any `configure()`, an `LLMLEDGER_ENABLED` that is not a switch word reads as off,
    logged once as an error: capture must not raise, and `configure()` (which the first
    `track()` or `calls()` runs) raises the ValueError where the user can act.
    """
    switch = _enabled
    if switch is None:
        switch = _switch_before_configure()
    return switch


def _switch_before_configure() -> bool:
    global _enabled, _bad_switch_said
    with _state_lock:
        if _enabled is not None:  # configure() ran meanwhile
            return _enabled
        try:
            _enabled = _enabled_from_env()
        except ValueError as exc:  # said once; configure() raises it where the user called
            if not _bad_switch_said:
                _bad_switch_said = True
                log.error("llmledger: %s; calls are not recorded until this is fixed", exc)
            return False
        return _enabled


def configure(
    database_url: str | Engine | None = None,
    *,
    default_tags: DefaultTags = None,
    price_overrides: Mapping[str, Any] | str | PathLike[str] | None = None,
    spool_path: str | PathLike[str] | None = None,
    enabled: bool | None = None,
    on_call: OnCall | None = None,
    budgets: list[Budget] | tuple[Budget, ...] = (),
    on_budget: OnBudget | None = None,
    budget_tz: str = "UTC",
) -> None:
    """`llmledger.configure`, less capture's hosts: the parameters are documented there."""
    if not isinstance(budgets, list | tuple) or not all(isinstance(b, Budget) for b in budgets):
        raise TypeError("budgets must be a list of llmledger.Budget")
    if on_budget is not None and not callable(on_budget):
        raise TypeError(f"on_budget must be a callable taking a BudgetEvent, got {on_budget!r}")
    totals = totals_spec_for(budgets, budget_tz)
    if isinstance(default_tags, Mapping):
        resolve_defaults(default_tags)  # validate now, where the user called us
    elif default_tags is not None and not callable(default_tags):
        raise TypeError("default_tags must be a mapping or a callable returning one")
    if enabled is None:
        enabled = _enabled_from_env()
    elif not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True, False or None, got {type(enabled).__name__}")
    if on_call is not None and not callable(on_call):
        raise TypeError(f"on_call must be a callable taking a Call, got {type(on_call).__name__}")
    pricer = build_pricer(price_overrides)
    if not enabled:
        _install(State(None, None, pricer, default_tags, owns_engine=False, on_call=on_call))
        return
    engine = make_engine(
        database_url if isinstance(database_url, Engine) else resolve_database_url(database_url)
    )
    owns_engine = not isinstance(database_url, Engine)
    try:
        schema_checked = _check_schema_unless_down(engine)
        if totals is not None and schema_checked:
            # Budgets on a database that cannot keep their totals: say so here, rather than
            # have every row wait in the spool for a writer that cannot add them.
            require_returning(engine.dialect)
    except (SchemaNotReadyError, TotalsNotSupported):  # close what was opened, then say so
        if owns_engine:
            engine.dispose()
        raise
    guard = Guard(budgets, engine, totals, pricer=pricer) if budgets else None
    notifier = None
    if on_budget is not None and any(b.action == "notify" for b in budgets):
        notifier = Notifier(budgets, engine, totals, on_budget)
    writer = Writer(
        engine,
        spool_path=spool_path,
        # A database down at configure() gets its schema checked once it answers.
        prepare=None if schema_checked else functools.partial(ensure_schema, engine),
        snapshot=(pricer.snapshot_id, pricer.source, pricer.snapshot_content),
        totals=totals,
        pending=None if guard is None else guard.pending,
        after_batch=None if notifier is None else notifier.after_write,
        release_reservations=guard is not None and guard.reserver is not None,
    )
    _install(State(engine, writer, pricer, default_tags, owns_engine, on_call, guard))


def _install(new: State) -> None:
    """Make `new` the configuration, then close the one it replaces."""
    global _state, _enabled
    with _state_lock:
        old, _state = _state, new
        _enabled = new.writer is not None
    if old is not None:
        old.close()


def _check_schema_unless_down(engine: Engine) -> bool:
    """`ensure_schema` now, so a reachable database without the ledger's tables raises
    `SchemaNotReadyError` where the user called us. A database that does not answer is an
    outage like any later one: calls are spooled, and the writer checks the schema when it
    answers. True if the schema was checked."""
    try:
        ensure_schema(engine)
    except (OperationalError, InterfaceError) as exc:  # down, unreachable, locked
        log.warning(
            "llmledger: database %s unavailable at start (%s); calls are spooled until it answers",
            engine.url.render_as_string(hide_password=True),
            describe(exc),
        )
        return False
    return True


def state() -> State:
    """The current configuration, configuring the defaults on first use."""
    if _state is None:
        with _state_lock:
            if _state is None:
                configure()
    return _state  # type: ignore[return-value]  # set by configure()


def configured() -> State | None:
    """The current configuration, or None before any: never configures (capture's preflight
    asks it on every request)."""
    return _state


def current_pricer() -> Pricer:
    """The configured pricer (catalog plus configured overrides); the bare catalog's when
    nothing is configured, so that reading prices never opens the default database."""
    current = _state
    return build_pricer() if current is None else current.pricer


def flush(timeout: float | None = None) -> bool:
    """Writes every call recorded so far; True when all reached the database, the spool (the
    database being unavailable) or the rejected file. False when `timeout` seconds passed
    first, or when a call could be kept nowhere (see `Writer.flush`). True at once while
    recording is off: nothing is pending."""
    current = _state
    if current is None or current.writer is None:
        return True
    return current.writer.flush(timeout)


def shutdown() -> None:
    """Flushes and stops the background writer (registered to run at interpreter exit).
    The configuration is forgotten: the next recorded call configures the defaults."""
    global _state, _enabled
    with _state_lock:
        old, _state = _state, None
        _enabled = None
    if old is not None:
        old.close()


atexit.register(shutdown)
