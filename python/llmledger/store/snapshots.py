"""Price catalog snapshots, stored once per content id.

A snapshot's id is the hash of its content, so two processes pricing with the same catalog
store the same row; whichever inserts second must not fail.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, Insert, select

from .dialects import insert_ignoring_duplicates
from .schema import price_snapshots
from .spool import Spool

__all__ = ["load_snapshot", "save_kept_snapshots", "save_snapshot"]


def save_snapshot(conn: Connection, snapshot_id: str, source: str, content: bytes) -> None:
    """Store a price catalog snapshot unless one with this id is already stored.

    `content` is stored as given (the pricer's zlib-compressed canonical JSON). Race-safe:
    a concurrent insert of the same id, from another thread or process, is not an error.
    Runs in the caller's transaction; the caller commits.
    """
    statement: Insert = insert_ignoring_duplicates(conn.dialect, price_snapshots, "id")
    conn.execute(
        statement,
        {
            "id": snapshot_id,
            "created_at_us": time.time_ns() // 1000,
            "source": source,
            "content": content,
        },
    )


def load_snapshot(conn: Connection, snapshot_id: str) -> bytes | None:
    """The stored content of snapshot `snapshot_id`, or None when it was never stored."""
    query = select(price_snapshots.c.content).where(price_snapshots.c.id == snapshot_id)
    return conn.execute(query).scalar_one_or_none()


def save_kept_snapshots(engine: Engine, spool: Spool) -> None:
    """Store the snapshots kept beside `spool` (`Spool.keep_snapshot`), then remove their
    files: run before its rows are replayed, so that no row names a snapshot the database
    lacks. Raises what the database raises; the files stay for the next try."""
    kept = spool.kept_snapshots()
    if not kept:
        return
    with engine.begin() as conn:
        for _, snapshot_id, source, content in kept:
            save_snapshot(conn, snapshot_id, source, content)
    for path, *_ in kept:
        path.unlink(missing_ok=True)
