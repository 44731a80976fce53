"""A prune in a process of its own, for the test that kills it: after `stop_after` batches
it writes `marker` and sleeps, to be killed with SIGKILL there.

    python prune_process.py URL BATCH_SIZE STOP_AFTER MARKER
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from llmledger import prune


def main() -> None:
    url, batch_size, stop_after, marker = sys.argv[1:]
    batches = []

    def wait_to_be_killed(deleted: int) -> None:
        batches.append(deleted)
        if len(batches) == int(stop_after):
            Path(marker).write_text(str(sum(batches)))
            time.sleep(120)

    prune(
        url, before=dt.date(2026, 1, 4), batch_size=int(batch_size), _after_batch=wait_to_be_killed
    )


if __name__ == "__main__":
    main()
