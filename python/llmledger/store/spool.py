"""The local spool: ledger rows waiting, as JSON lines, for the database to come back.

Rows are appended by the background writer when the database is unavailable and by the
app's threads when the writer's queue is full. Replay first renames the spool to a uniquely
named ``*.replaying.jsonl`` file (so appends made meanwhile start a new spool), inserts its
rows keyed by `event_id` with insert-or-ignore, puts back the rows that could not be written
yet, and only then deletes the file. A crash mid-replay leaves the file in place; the next
replay sends it again and the database keeps each `event_id` once: nothing lost, nothing
doubled.

Rows the database refused for their content, and lines that are not rows (torn by a crash,
or garbage), are set aside in the ``*.rejected.jsonl`` file beside the spool, one JSON entry
each: ``{"reason", "rejected_at", "row"}`` (or ``"line"`` for what was not a row). They are
counted by ``llmledger doctor`` and sent again by ``llmledger spool replay --rejected``.

Appends and renames hold a lock file (``flock`` on POSIX) as well as a thread lock, because
the workers of a web server usually share one working directory and so one spool.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import glob
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, make_url
from sqlalchemy.engine import URL

try:
    import fcntl
except ImportError:  # Windows: no flock; the thread lock still serialises this process.
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Rejected",
    "Spool",
    "default_spool_path",
    "encode_rejected",
    "encode_row",
    "encode_rows",
]

Row = dict[str, Any]


def default_spool_path(database: Engine | URL | str) -> Path:
    """Where rows wait for a database (an Engine or its URL) when no spool path is given.

    Next to a SQLite file, named after it. For a server database, in the working directory,
    named after the database: ``llmledger-spool-<backend>-<host>-<database>-<hash>.jsonl``,
    the hash taken over the URL without its password (and driver), so two apps started in one
    folder on two databases never replay into each other's. The password is never part of
    the name. In-memory SQLite: ``llmledger-spool.jsonl`` in the working directory.
    """
    url = database.url if isinstance(database, Engine) else make_url(database)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            return Path.cwd() / "llmledger-spool.jsonl"
        database = Path(url.database).resolve()
        return database.with_name(f"llmledger-spool-{database.name}.jsonl")
    query = sorted(url.query.items())  # ?host=/socket/dir or ?options= name the database too
    identity = f"{backend}://{url.username}@{url.host}:{url.port}/{url.database}?{query}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    parts = (url.host or "local", url.database or "")
    readable = "-".join(re.sub(r"[^A-Za-z0-9.]+", "_", part)[:40] for part in parts)
    return Path.cwd() / f"llmledger-spool-{backend}-{readable}-{digest}.jsonl"


def encode_row(row: Row) -> bytes:
    """One JSON line for `row`.

    ASCII escapes keep every string as it was, lone surrogates included (a filename decoded
    with ``surrogateescape``), so the line can always be written and reads back equal.
    Raises TypeError, ValueError or RecursionError for a value JSON cannot hold.
    """
    return json.dumps(row, separators=(",", ":")).encode("ascii") + b"\n"


def encode_rows(rows: Iterable[Row]) -> bytes:
    """JSON lines for `rows` (see `encode_row`)."""
    return b"".join(encode_row(row) for row in rows)


def encode_rejected(reason: str, *, row: Any = None, line: bytes | None = None) -> bytes:
    """A rejected-file entry: a row (or a line that was not one) and why it was set aside.

    A row JSON cannot hold is kept with its odd values as their ``repr`` (and says so): the
    entry is for a person to read and fix.
    """
    entry: dict[str, Any] = {
        "reason": reason,
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if line is not None:
        entry["line"] = line.decode("utf-8", "backslashreplace")
        return encode_row(entry)
    try:
        return encode_row(entry | {"row": row})
    except (TypeError, ValueError, RecursionError):  # a value JSON cannot hold, or a cycle
        entry["reason"] += "; values JSON cannot hold are shown as their repr"
        try:
            return json.dumps(entry | {"row": row}, default=repr).encode("ascii") + b"\n"
        except (ValueError, RecursionError):  # a cycle or depth even repr cannot flatten
            return encode_row(entry | {"line": repr(row)[:100_000]})


class Rejected:
    """One entry of a rejected file: its bytes, and the row it holds (None for a line that
    was never a row)."""

    __slots__ = ("entry", "row")

    def __init__(self, entry: bytes, row: Row | None) -> None:
        self.entry = entry
        self.row = row


class Spool:
    """JSON-lines files of rows at `path`, its replay files, and its rejected file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejects_path = path.with_name(f"{path.stem}.rejected{path.suffix}")
        self._lock_path = path.with_name(f"{path.stem}.lock")
        stem = glob.escape(str(path.with_name(path.stem)))
        self._replaying_glob = f"{stem}.*.replaying{path.suffix}"
        self._resubmitting_glob = f"{stem}.rejected.*.resubmitting{path.suffix}"
        self._snapshots_glob = f"{stem}.snapshot.*.json"
        self._thread_lock = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: a fresh thread lock (the parent's may have been held)."""
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
        """Append JSON lines to the spool (or the rejected file); raises OSError on failure."""
        path = self.rejects_path if rejects else self.path
        with self._locked(), open(path, "a+b") as file:
            # A process killed mid-append leaves a line without its newline; end it so that
            # damage stays on that one line instead of swallowing the next row.
            if file.tell() > 0:
                file.seek(-1, os.SEEK_END)
                if file.read(1) != b"\n":
                    data = b"\n" + data
            file.write(data)

    def keep_snapshot(self, snapshot_id: str, source: str, content: bytes) -> None:
        """Keep a price snapshot beside the spool until a replay stores it (`kept_snapshots`):
        rows spooled by a process that never reached the database name a snapshot only that
        process knew. Written whole or not at all; raises OSError on failure."""
        path = self.path.with_name(f"{self.path.stem}.snapshot.{snapshot_id}.json")
        if path.exists():
            return
        encoded = base64.b64encode(content).decode("ascii")
        data = json.dumps({"id": snapshot_id, "source": source, "content": encoded})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(data, encoding="ascii")
        os.replace(partial, path)

    def kept_snapshots(self) -> list[tuple[Path, str, str, bytes]]:
        """The snapshots kept beside the spool: (file, id, source, content) each."""
        kept = []
        for name in sorted(glob.glob(self._snapshots_glob)):
            path = Path(name)
            try:
                entry = json.loads(path.read_bytes())
            except FileNotFoundError:  # another process stored it and removed the file
                continue
            content = base64.b64decode(entry["content"])
            kept.append((path, entry["id"], entry["source"], content))
        return kept

    def pending(self) -> bool:
        """Whether rows are waiting: a spool or an unfinished replay file exists."""
        try:
            return self.path.exists() or bool(glob.glob(self._replaying_glob))
        except OSError:  # a folder we may not read: say yes, and let a replay report why
            return True

    def claim(self) -> list[Path]:
        """Move the spool aside for replay; all replay files, oldest first.

        Older replay files are those a crashed or interrupted replay left behind (of this
        process or another sharing the spool).
        """
        return self._claim(self.path, "replaying", self._replaying_glob)

    def claim_rejected(self) -> list[Path]:
        """Move the rejected file aside to send its rows again; all such files, oldest first."""
        return self._claim(self.rejects_path, "resubmitting", self._resubmitting_glob)

    def _claim(self, path: Path, state: str, pattern: str) -> list[Path]:
        with self._locked():
            if path.exists():
                unique = f"{time.time_ns():020d}-{os.getpid()}"
                path.rename(path.with_name(f"{path.stem}.{unique}.{state}{path.suffix}"))
        return sorted(Path(p) for p in glob.glob(pattern))

    @staticmethod
    def read(path: Path) -> tuple[list[Row], list[bytes]]:
        """The rows of a replay file, and the lines that are not rows (torn or garbage)."""
        rows, bad = [], []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            row = _json_object(line)
            if row is None:
                bad.append(line)
            else:
                rows.append(row)
        return rows, bad

    @staticmethod
    def read_rejected(path: Path) -> list[Rejected]:
        """The entries of a rejected file; rows set aside before entries had a reason were
        written bare, and are read as rows too."""
        entries = []
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            entry = _json_object(line)
            row = None
            if entry is not None:
                row = entry.get("row") if "reason" in entry else entry
            entries.append(Rejected(line + b"\n", row if isinstance(row, dict) else None))
        return entries

    def waiting(self) -> int:
        """Rows waiting in the spool and its replay files (lines, torn ones included)."""
        paths = [self.path, *map(Path, glob.glob(self._replaying_glob))]
        return sum(_count_lines(path) for path in paths)

    def rejected(self) -> int:
        """Entries in the rejected file (and in files being sent again)."""
        paths = [self.rejects_path, *map(Path, glob.glob(self._resubmitting_glob))]
        return sum(_count_lines(path) for path in paths)


def _json_object(line: bytes) -> Row | None:
    try:
        value = json.loads(line)
    except ValueError:  # a line cut short by a crash mid-append, or not JSON at all
        return None
    return value if isinstance(value, dict) else None


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as file:
            return sum(1 for line in file if line.strip())
    except FileNotFoundError:  # replayed (and deleted) since it was listed
        return 0
