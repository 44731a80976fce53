"""One reaggregate run (or prune) at a time per database.

Two runs at once would price the same unpriced calls and recompute the same days, and the
second's inserts would collide with the first's; a prune deleting a day's calls while a run
recomputes that day would leave the day's rollup short. So a run holds a lock for its whole length,
and a second run stops at once with `AlreadyRunning`. The lock dies with the run's process
(a session lock on a server, a file lock on SQLite), so a killed run never leaves it behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["AlreadyRunning", "one_run_at_a_time"]

_NAME = "llmledger_reaggregate"
# pg_advisory_lock takes a bigint: this name's first 8 bytes, so other apps' locks keep theirs.
_PG_KEY = int.from_bytes(_NAME.encode()[:8], "big", signed=True)


class AlreadyRunning(RuntimeError):
    """Another reaggregate run, or a prune, holds this database's lock."""


@contextlib.contextmanager
def one_run_at_a_time(engine: Engine) -> Iterator[None]:
    """Hold the database's reaggregate lock while the block runs; `AlreadyRunning` if taken."""
    dialect = engine.dialect.name
    busy = AlreadyRunning(
        "another `llmledger reaggregate` or `llmledger prune` is running on this database"
    )
    if dialect == "postgresql":
        with engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_KEY}).scalar():
                raise busy
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_KEY})
    elif dialect in ("mysql", "mariadb"):
        # Named locks are the whole server's, not one database's: the name carries the
        # database's (hashed, as a name may be 64 characters at most), so runs on two
        # databases of one server never stop each other.
        name = f"CONCAT('{_NAME}.', SHA1(DATABASE()))"
        with engine.connect() as conn:
            if conn.execute(text(f"SELECT GET_LOCK({name}, 0)")).scalar() != 1:
                raise busy
            try:
                yield
            finally:
                conn.execute(text(f"SELECT RELEASE_LOCK({name})"))
    elif dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        import fcntl

        database = Path(engine.url.database).resolve()
        with open(database.with_name(f"{database.name}.reaggregate.lock"), "a") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            yield  # closing the file releases the lock
    else:  # an in-memory database: no other process can reach it
        yield
