"""What becomes of rows the writer could not write now: counted, kept, or named as lost.

Rows wait in the spool while the database is unavailable; a row the database refused for
its content, or a spool line that is not a row, is set aside in the rejected file with its
reason; a row that can be kept nowhere (the disk refuses the spool too) is counted as lost
and its `event_id` logged. Every outcome is counted for `Writer.stats()`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from .failures import describe
from .inserter import Inserted
from .spool import Spool, encode_rejected, encode_row

__all__ = ["STATS", "Keeper"]

log = logging.getLogger("llmledger")

Row = dict[str, Any]
STATS = ("written", "spooled", "replayed", "rejected", "outages", "errors", "lost")


class Keeper:
    """The counts, and the spool and rejected file of one writer."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.unavailable = False  # between the first failed write of an outage and recovery
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._unexplained: set[str] = set()  # event_ids already logged as retried later

    def after_fork(self) -> None:
        """In a forked child: counts of its own, and fresh locks (the parent's may be held)."""
        self._counts = Counter()
        self._lock = threading.Lock()
        self.spool.after_fork()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {key: self._counts[key] for key in STATS}

    def lost(self) -> int:
        return self._counts["lost"]

    def settle(self, result: Inserted) -> None:
        """Count and log what an insert did not write; set refused rows aside."""
        self.count("errors", result.failed_statements)
        for row, exc in result.refused:
            self.reject(row, describe(exc))
        for row, exc in result.unexplained:
            event_id = str(row.get("event_id"))
            if event_id not in self._unexplained:  # once per row, not every retry
                self._unexplained.add(event_id)
                log.warning(
                    "llmledger: could not write row event_id=%s (%s); it waits in %s",
                    event_id,
                    describe(exc),
                    self.spool.path,
                )
        if result.unavailable is not None:
            self.mark_unavailable(result.unavailable)
        elif result.written and self.unavailable:
            self.unavailable = False
            log.info("llmledger: database available again")

    def mark_unavailable(self, exc: BaseException) -> None:
        if not self.unavailable:
            self.unavailable = True
            self.count("outages")
            log.warning(
                "llmledger: database unavailable (%s); spooling rows to %s until it is back",
                describe(exc),
                self.spool.path,
            )

    def spool_rows(self, rows: list[Row]) -> None:
        """Append rows to the spool, one line each; a row JSON cannot hold is set aside
        alone, and a spool the disk refuses loses the rows (counted, each one logged)."""
        lines, kept = [], []
        for row in rows:
            try:
                lines.append(encode_row(row))
                kept.append(row)
            except (TypeError, ValueError, RecursionError) as exc:  # a value JSON cannot hold
                self.reject(row, f"cannot be spooled: {describe(exc)}")
        if not lines:
            return
        try:
            self.spool.append(b"".join(lines))
        except OSError as exc:  # disk full or spool folder unwritable: nowhere to keep them
            self.count("lost", len(lines))
            log.error(
                "llmledger: could not spool %d rows to %s (%s); lost event_ids: %s",
                len(lines),
                self.spool.path,
                exc,
                ", ".join(str(row.get("event_id")) for row in kept),
            )
            return
        self.count("spooled", len(lines))

    def reject(self, row: Row, reason: str) -> None:
        self.count("rejected")
        try:
            self.spool.append(encode_rejected(reason, row=row), rejects=True)
            kept = f"set aside in {self.spool.rejects_path}"
        except OSError as exc:  # disk full or folder unwritable
            self.count("lost")
            kept = f"LOST, the rejected file cannot be written: {exc}"
        log.error("llmledger: row event_id=%s refused (%s); %s", row.get("event_id"), reason, kept)

    def reject_line(self, line: bytes) -> None:
        self.count("rejected")
        try:
            self.spool.append(encode_rejected("not a row", line=line), rejects=True)
        except OSError as exc:  # disk full or folder unwritable
            log.error("llmledger: could not keep a spool line that is not a row: %s", exc)
        log.error("llmledger: spool line is not a row, set aside: %.200r", line)
