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
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from .pricing import Pricer, build_pricer
from .store import ensure_schema, make_engine, save_snapshot
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
    snapshot_saved: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def save_snapshot(self) -> None:
        """Stores the price snapshot once; a database outage postpones it to the next flush."""
        if self.snapshot_saved:
            return
        with self.lock:
            if self.snapshot_saved:
                return
            try:
                with self.engine.begin() as conn:
                    save_snapshot(
                        conn,
                        self.pricer.snapshot_id,
                        self.pricer.source,
                        self.pricer.snapshot_content,
                    )
            except OperationalError:
                log.warning("llmledger: database unavailable; price snapshot saved later")
                return
            self.snapshot_saved = True


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
    `spool_path` is where rows wait while the database is unreachable.
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
    ensure_schema(engine)
    writer = Writer(engine, spool_path=spool_path)
    new = State(engine, writer, pricer, default_tags)
    with _state_lock:
        old, _state = _state, new
    if old is not None:
        old.writer.close()
    new.save_snapshot()


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
    """Writes every call recorded so far; True when all reached the database (or the spool)."""
    if _state is None:
        return True
    _state.save_snapshot()
    return _state.writer.flush(timeout)


def shutdown() -> None:
    """Flushes and stops the background writer (registered to run at interpreter exit)."""
    global _state
    with _state_lock:
        old, _state = _state, None
    if old is not None:
        old.writer.close()


atexit.register(shutdown)
