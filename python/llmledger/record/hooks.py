"""The call hook: `configure(on_call=fn)` hands every recorded call to `fn`, off the app's path.

`fn(call)` gets the `llmledger.Call` of each call the ledger accepts, `track()`'s and
capture's alike, once, priced and tagged, on the ledger's writer thread, as the call's row is
built there (before it is written: a call spooled through an outage has been seen already).
So the app's thread never waits for it, and after `llmledger.flush()` returns the hook has
seen every call recorded before it. A slow hook delays the writer, and so the writing of
every later call: hand slow work (a network export) to a thread or queue of your own.

What the hook raises (any exception, SystemExit too) is contained: logged once per exception
type, with its traceback, and counted in `problems`. The hook never runs on the app's thread:
a call the writer cannot queue (100,000 calls behind, or shut down) goes to the spool from the
thread that made it, and is counted as skipped instead.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..store.schema import BUCKETS
from .call import Call

if TYPE_CHECKING:
    from ..config import OnCall
    from ..pricing import Priced
    from ..store.writer import Row, Writer

__all__ = ["Announce", "announce", "call_of", "problems"]

log = logging.getLogger("llmledger")

problems: Counter[str] = Counter()
"""The call hook's troubles since the process started: "raised" (calls whose hook raised)
and "skipped" (calls recorded without reaching the hook: the writer could not queue them)."""

_types_said: set[type[BaseException]] = set()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def announce(on_call: OnCall, writer: Writer, call: Call) -> None:
    """Hand `call` to the hook, on the writer's thread; contain what it raises."""
    # The writer calls a queued row maker on its own thread, but one it cannot queue (full,
    # or closed) at once on the caller's: only the first may run the hook.
    if not writer.on_thread():
        problems["skipped"] += 1
        return
    try:
        on_call(call)
    # The user's code, on the writer's thread: nothing it raises, SystemExit included, may
    # end that thread or lose the row being built.
    except BaseException as exc:
        problems["raised"] += 1
        kind = type(exc)
        if kind not in _types_said:
            _types_said.add(kind)
            log.error(
                "llmledger: the on_call hook raised %s.%s; the call is recorded all the same "
                "(said once per exception type, counted in llmledger.record.hooks.problems)",
                kind.__module__,
                kind.__qualname__,
                exc_info=True,
            )


class Announce:
    """A row maker for the writer's queue: hands its call to the hook on the writer's thread,
    then gives the row to write (for rows built on the app's thread: `track()`'s)."""

    __slots__ = ("call", "on_call", "row", "writer")

    def __init__(self, on_call: OnCall, writer: Writer, row: Row, call: Call) -> None:
        self.on_call = on_call
        self.writer = writer
        self.row = row
        self.call = call

    def __call__(self) -> Row:
        announce(self.on_call, self.writer, self.call)
        return self.row


def call_of(row: dict[str, Any], priced: Priced | None) -> Call:
    """The `Call` of a ledger row built by `recorder.ledger_row`, and the price it got."""
    return Call(
        row["provider"],
        row["model"],
        _EPOCH + row["at_us"] * _US,
        row["pricing_mode"],
        tuple(row[bucket] for bucket in BUCKETS),
        priced,
        event_id=row["event_id"],
        tags=MappingProxyType(row["tags"]),
        usage_source=row["usage_source"],
        status=row["status"],
        http_status=row["http_status"],
        latency_ms=row["latency_ms"],
        provider_response_id=row["provider_response_id"],
    )
