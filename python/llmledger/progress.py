"""A small progress bar for long CLI jobs, on stderr, redrawn only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """`with Progress(total, "demo") as bar: bar.advance(n)`; prints one summary line at the end."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.perf_counter()
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.live and (now - self._drawn > 0.1 or self.done >= self.total):
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        filled = int(frac * 30)
        rate = self.done / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
            f"{self.done:,}/{self.total:,} {frac:4.0%} {rate:,.0f}/s"
        )
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.started
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(f"{self.label}: {self.done:,} in {elapsed:.1f}s\n")
        self.stream.flush()
