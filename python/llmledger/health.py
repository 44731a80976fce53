"""What the ledger's recording has been through in this process, for the app to expose.

`llmledger doctor` runs in a process of its own: it sees the database and the spool files,
never the counters of the app that records. `health()` gives the app those counters (the
writer's, capture's and the call hook's) and the queue's length, to serve on its own health
endpoint or to log. It reads them only: it never configures, opens a database or waits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from . import config
from .capture.sink import problems as capture_problems
from .record.hooks import problems as hook_problems
from .store.keeper import STATS

__all__ = ["Health", "health"]


@dataclass(frozen=True)
class Health:
    """A snapshot of recording in this process since it started (see `health()`)."""

    enabled: bool
    """Whether calls are recorded now (the kill switch, `configure(enabled=...)`)."""
    queued: int
    """Rows (and flush requests) waiting for the writer thread, approximately."""
    writer: dict[str, int]
    """The writer's counters (`Writer.stats()`): written, spooled, replayed, rejected,
    outages, errors, lost; since the current `configure()`; zeros when none is configured."""
    capture_problems: dict[str, int]
    """Capture problems by kind: capture, decode, parse, record, usage, host, tags."""
    hook_problems: dict[str, int]
    """The `on_call` hook's troubles: raised, skipped."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, for a health endpoint or a log line."""
        return asdict(self)


def health() -> Health:
    """The ledger's counters in this process: the writer's `stats()`, the queue's length,
    capture's and the call hook's problems, and whether recording is on.

    A non-zero `writer["lost"]` means calls were lost; `rejected` ones wait in the spool's
    `.rejected.jsonl` (`llmledger spool replay --rejected`); `spooled` above `replayed` while
    `outages` grows means the database is unavailable.
    """
    # The configuration as it is, never the defaults `config.state()` would set up: a health
    # check must not create a database.
    current = config.configured()
    writer = None if current is None else current.writer
    return Health(
        enabled=config.enabled(),
        queued=0 if writer is None else writer.queued(),
        writer=dict.fromkeys(STATS, 0) if writer is None else writer.stats(),
        capture_problems=dict(capture_problems),
        hook_problems=dict(hook_problems),
    )
