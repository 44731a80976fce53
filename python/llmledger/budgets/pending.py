"""The cost of calls accepted but not yet written, per period and scope: what a preflight adds
to the totals it read, so that a burst of calls faster than the writer still counts.

Two counters per (period, period start, scope key), each only growing: `accepted` when the
writer is handed a priced row, `settled` once it is done with it (written, spooled through an
outage, or set aside). A preflight snapshots `settled` just before it reads the database's
totals; then ``accepted now - settled at the read`` is exactly what the read could not see,
whenever the cached read is used. A row settled between the snapshot and the read counts
twice for that read (too much, never too little). A spooled row leaves the count and comes
back when it is replayed into the database.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ..store.totals import Calendar, TotalsSpec, tally

__all__ = ["Pending"]

Key = tuple[str, int, str]  # (period, start_us, scope_key)
_PRUNE_EVERY_S = 3600.0


class Pending:
    """Accepted and settled cost (pico-USD) per (period, start, scope key), for one spec."""

    def __init__(self, spec: TotalsSpec) -> None:
        self.calendar = Calendar(spec)
        self.accepted: defaultdict[Key, int] = defaultdict(int)
        self.settled: defaultdict[Key, int] = defaultdict(int)
        self._ends: dict[Key, int] = {}
        self._lock = threading.Lock()
        self._pruned = time.monotonic()

    def _costs(self, rows: Iterable[Mapping[str, Any]]) -> dict[Key, tuple[int, int]]:
        counted = ((r["at_us"], r["provider"], r["model"], r["tags"], r["cost"], 1) for r in rows)
        return {k: (d[0], d[5]) for k, d in tally(self.calendar, counted).items() if d[5]}

    def accept(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The writer was handed `rows` (ledger rows, priced or not)."""
        costs = self._costs(rows)
        with self._lock:
            for key, (end, cost) in costs.items():
                self.accepted[key] += cost
                self._ends[key] = end

    def settle(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The writer is done with `rows`: written, spooled or set aside."""
        costs = self._costs(rows)
        with self._lock:
            for key, (_, cost) in costs.items():
                self.settled[key] += cost
            if time.monotonic() - self._pruned > _PRUNE_EVERY_S:
                self._prune(time.time_ns() // 1000)

    def _prune(self, now_us: int) -> None:
        """Forget periods that ended and whose rows are all settled: memory stays bounded."""
        self._pruned = time.monotonic()
        for key, end in list(self._ends.items()):
            if end < now_us and self.accepted[key] == self.settled[key]:
                del self._ends[key], self.accepted[key], self.settled[key]

    def unwritten(self, key: Key, settled_then: int) -> int:
        """Cost accepted for `key` that a read made when `settled` was `settled_then` missed."""
        return self.accepted.get(key, 0) - settled_then
