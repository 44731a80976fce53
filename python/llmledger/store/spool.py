"""The local spool: ledger rows waiting, as JSON lines, for the database to come back.

Rows are appended by the background writer when the database is unavailable and by the
app's threads when the writer's queue is full. Replay first renames the spool to a uniquely
named ``*.replaying.jsonl`` file (so appends made meanwhile start a new spool), inserts its
rows keyed by `event_id` with insert-or-ignore, and deletes it only once every row is in. A
crash mid-replay leaves the file in place; the next replay sends it again and the database
keeps each `event_id` once: nothing lost, nothing doubled.

Appends and renames hold a lock file (``flock`` on POSIX) as well as a thread lock, because
the workers of a web server usually share one working directory and so one spool.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; the thread lock still serialises this process.
    fcntl = None  # type: ignore[assignment]

__all__ = ["Spool", "dumps_rows"]


def dumps_rows(rows: Iterable[dict[str, Any]]) -> bytes:
    """JSON lines for `rows`; raises TypeError/ValueError for a value JSON cannot hold."""
    return b"".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for row in rows
    )


class Spool:
    """JSON-lines files of rows at `path`, its replay files, and its rejects file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejects_path = path.with_name(f"{path.stem}.rejected{path.suffix}")
        self._lock_path = path.with_name(f"{path.stem}.lock")
        self._replaying_glob = glob.escape(str(path.with_name(path.stem))) + ".*.replaying"
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if fcntl is None:
                yield
                return
            with open(self._lock_path, "ab") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                yield  # closing the file releases the lock

    def append(self, data: bytes, *, rejects: bool = False) -> None:
        """Append JSON lines to the spool (or the rejects file); raises OSError on failure."""
        path = self.rejects_path if rejects else self.path
        with self._locked(), open(path, "a+b") as file:
            # A process killed mid-append leaves a line without its newline; end it so that
            # damage stays on that one line instead of swallowing the next row.
            if file.tell() > 0:
                file.seek(-1, os.SEEK_END)
                if file.read(1) != b"\n":
                    data = b"\n" + data
            file.write(data)

    def pending(self) -> bool:
        """Whether rows are waiting: a spool or an unfinished replay file exists."""
        return self.path.exists() or bool(glob.glob(self._replaying_glob + self.path.suffix))

    def claim(self) -> list[Path]:
        """Move the spool aside for replay; all replay files, oldest first.

        Older replay files are those a crashed or interrupted replay left behind (of this
        process or another sharing the spool).
        """
        with self._locked():
            if self.path.exists():
                unique = f"{time.time_ns():020d}-{os.getpid()}"
                self.path.rename(
                    self.path.with_name(f"{self.path.stem}.{unique}.replaying{self.path.suffix}")
                )
        return sorted(Path(p) for p in glob.glob(self._replaying_glob + self.path.suffix))

    @staticmethod
    def read(path: Path) -> tuple[list[dict[str, Any]], list[bytes]]:
        """The rows of a replay file, and the lines that are not valid JSON (torn writes)."""
        rows, torn = [], []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:  # a line cut short by a crash mid-append
                torn.append(line)
        return rows, torn
