"""The writer's queue: appending a row costs the app's thread almost nothing."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import Any

__all__ = ["Inbox"]


class Inbox:
    """The writer's queue, cheap for the app's threads.

    `queue.Queue` wakes the writer thread on every row; each wake-up makes the app's thread
    hand the GIL over and wait to get it back, tens of microseconds per recorded call. Here a
    row is a `deque.append` (atomic, no lock); the writer is woken only by the first row of a
    batch (so a call waits `poll` seconds at most before it is written, not twice that), when
    a batch is full, or when a flush or stop is asked, and otherwise polls every `poll`
    seconds.
    """

    def __init__(self, maxsize: int, wake_at: int, poll: float) -> None:
        self.maxsize = maxsize
        # No poll interval (flush_interval=0) means "write each row now": wake on every row,
        # and between rows block until woken rather than spin.
        self._wake_at = wake_at if poll > 0 else 1
        self._poll = poll if poll > 0 else None
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._idle = False  # the writer waits for the first row of its next batch

    def put_nowait(self, item: Any) -> None:
        """Add a row (or a row maker); `queue.Full` when `maxsize` rows wait."""
        items = self._items
        if len(items) >= self.maxsize:
            raise queue.Full
        items.append(item)
        if self._idle or len(items) == self._wake_at:
            self._idle = False  # one wake-up per batch, not one per row
            self._wake.set()

    def put_marker(self, marker: Any) -> None:
        """Add a flush or stop marker (never refused) and wake the writer now."""
        self._items.append(marker)
        self._wake.set()

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; `queue.Empty` when none came within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._items.popleft()
            except IndexError:  # empty: wait for a wake-up or the next poll
                pass
            wait = self._poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise queue.Empty
                wait = left if wait is None else min(wait, left)
            self._wake.wait(wait)
            self._wake.clear()

    def get_first(self, timeout: float | None = None) -> Any:
        """`get` for the first item of a batch: the next row wakes the writer at once."""
        self._idle = True
        try:
            return self.get(timeout)
        finally:
            self._idle = False

    def get_nowait(self) -> Any:
        try:
            return self._items.popleft()
        except IndexError:
            raise queue.Empty from None

    def qsize(self) -> int:
        return len(self._items)
