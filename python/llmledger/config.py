"""Process-wide configuration: the database, the background writer, the pricer, default tags.

The bottom of the recording path: capture and the recorder read the state through `state()`,
and nothing here imports them (`llmledger.configure` also hands capture its hosts).
`configure()` may be called again (tests, reconfiguration); the previous writer is flushed and
closed first. Without a call, the first recorded call configures the defaults:
`LLMLEDGER_DATABASE_URL`, else `sqlite:///llmledger.db`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from .pricing import Pricer, build_pricer
from .store import SchemaNotReadyError, ensure_schema, make_engine, save_snapshot
from .store.failures import describe
from .store.writer import Writer
from .tagging import resolve_defaults

__all__ = [
    "DEFAULT_DATABASE_URL",
    "State",
    "configure",
    "current_pricer",
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


@dataclass
class State:
    """What recording needs; replaced whole by `configure()`."""

    engine: Engine
    writer: Writer
    pricer: Pricer
    default_tags: DefaultTags
    owns_engine: bool = True  # made here from a URL, not the app's own Engine

    def close(self) -> None:
        """Write what is queued, stop the writer, and close the connections made here."""
        self.writer.close()
        if self.owns_engine:
            self.engine.dispose()


@dataclass
class _Preparation:
    """What the writer does before its first write (see `Writer`'s `prepare`): check the
    schema, if the database did not answer at `configure()`, and store the price snapshot.
    Raises what the database raises, or `SchemaNotReadyError`; the writer keeps rows in the
    spool and calls again until it succeeds."""

    engine: Engine
    pricer: Pricer
    schema_checked: bool

    def __call__(self) -> None:
        if not self.schema_checked:
            ensure_schema(self.engine)
            self.schema_checked = True
        with self.engine.begin() as conn:
            save_snapshot(
                conn, self.pricer.snapshot_id, self.pricer.source, self.pricer.snapshot_content
            )


_state: State | None = None
# Re-entrant: the first use configures the defaults while holding it.
_state_lock = threading.RLock()


def configure(
    database_url: str | Engine | None = None,
    *,
    default_tags: DefaultTags = None,
    price_overrides: Mapping[str, Any] | str | PathLike[str] | None = None,
    spool_path: str | PathLike[str] | None = None,
) -> None:
    """Sets where and how calls are recorded (`llmledger.configure`, less capture's hosts).

    `database_url` is a SQLAlchemy URL (`sqlite:///...`, `postgresql+psycopg://...`,
    `mysql+pymysql://...`) or an `Engine`; default `LLMLEDGER_DATABASE_URL`, else
    `sqlite:///llmledger.db`. A new SQLite file gets its tables created; on PostgreSQL and MySQL
    run `llmledger db upgrade` first. `default_tags` is a dict, or a callable evaluated per call.
    `price_overrides` is a dict or a JSON/TOML file (see `llmledger.pricing.overrides`).
    `spool_path` is where rows wait while the database is unavailable (default: beside a
    SQLite file, else a file named after the database in the working directory).

    A database that does not answer now is an outage like any later one, not an error:
    calls are spooled and written once it answers, and the schema is checked then. A
    database that answers without the ledger's tables raises `SchemaNotReadyError` here.
    """
    global _state
    if isinstance(default_tags, Mapping):
        resolve_defaults(default_tags)  # validate now, where the user called us
    elif default_tags is not None and not callable(default_tags):
        raise TypeError("default_tags must be a mapping or a callable returning one")
    pricer = build_pricer(price_overrides)
    engine = make_engine(
        database_url if isinstance(database_url, Engine) else resolve_database_url(database_url)
    )
    owns_engine = not isinstance(database_url, Engine)
    try:
        schema_checked = _check_schema_unless_down(engine)
    except SchemaNotReadyError:  # no ledger tables there: close what was opened, then say so
        if owns_engine:
            engine.dispose()
        raise
    preparation = _Preparation(engine, pricer, schema_checked)
    writer = Writer(engine, spool_path=spool_path, prepare=preparation)
    new = State(engine, writer, pricer, default_tags, owns_engine)
    with _state_lock:
        old, _state = _state, new
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


def current_pricer() -> Pricer:
    """The configured pricer (catalog plus configured overrides); the bare catalog's when
    nothing is configured, so that reading prices never opens the default database."""
    current = _state
    return build_pricer() if current is None else current.pricer


def flush(timeout: float | None = None) -> bool:
    """Writes every call recorded so far; True when all reached the database, the spool (the
    database being unavailable) or the rejected file. False when `timeout` seconds passed
    first, or when a call could be kept nowhere (see `Writer.flush`)."""
    if _state is None:
        return True
    return _state.writer.flush(timeout)


def shutdown() -> None:
    """Flushes and stops the background writer (registered to run at interpreter exit)."""
    global _state
    with _state_lock:
        old, _state = _state, None
    if old is not None:
        old.close()


atexit.register(shutdown)
