"""One writer process of the concurrency test: `python writer_process.py URL INDEX SPOOL`.

Writes 250 calls of its own and 50 that every process writes too (the same event ids), in
small batches, then prints its writer's counters as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))

from ledger_rows import make_row

from llmledger.store import Writer, make_engine
from llmledger.store.totals import TotalsSpec

SPEC = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant", "feature"), models=True)
OWN, SHARED = 250, 50
HOUR_US = 3_600_000_000


def calls(index: int) -> list[dict]:
    """This process's calls, its own and the shared ones interleaved."""
    own = [10_000 * (index + 1) + i for i in range(OWN)]
    numbers = own[:100] + list(range(SHARED)) + own[100:]
    return [
        make_row(
            n,
            at_us=1_795_780_800_000_000 + (n % 48) * HOUR_US,
            tags={"tenant": ("acme", "globex", "initech")[n % 3], "feature": "chat"},
        )
        for n in numbers
    ]


def main() -> None:
    url, index, spool = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    engine = make_engine(url)
    writer = Writer(engine, spool_path=spool, totals=SPEC, batch_size=20, flush_interval=0.01)
    for row in calls(index):
        writer.submit(row)
    for _ in range(20):  # a deadlock spools its batch; a flush replays it
        assert writer.flush(timeout=120)
        if not writer.spool.pending():
            break
    writer.close()
    print(json.dumps({**writer.stats(), "waiting": writer.spool.waiting()}))


if __name__ == "__main__":
    main()
