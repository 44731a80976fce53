"""One process of the multi-process SQLite tests, run as a script:

    python sqlite_roles.py ROLE DATABASE SECONDS SEED [--reader-process]

Roles: `sequence` records calls dated over six weeks, rolls them up, runs the nightly
`llmledger reaggregate` in another process, then records as many again (SECONDS unused);
`writer` records calls through `llmledger.track` with tags, dated over six weeks;
`writer+rollup` does the same and runs `llmledger.rollup(engine, ...)` between batches (an app
that records and reports); `rollup` runs rollups and records nothing; `reader` reads
`llmledger.calls()`. A role that records prints the event ids `track()` returned, as one JSON
list, after its last write. `--reader-process` sends every rollup through the reader process
(the route of large reads), whatever the ledger's size.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import time

import llmledger
from llmledger.store import make_engine

WEEKS = 6
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _record(rng: random.Random, accepted: list[str], n: int) -> None:
    for _ in range(n):
        call = llmledger.track(
            "openai",
            "gpt-4o-mini",
            at=START + dt.timedelta(seconds=rng.randrange(WEEKS * 7 * 86_400)),
            input_tokens=rng.randrange(1, 5_000),
            output_tokens=rng.randrange(1, 1_000),
            tags={"feature": f"f{rng.randrange(5)}", "tenant": f"t{rng.randrange(9)}"},
        )
        accepted.append(call.event_id)
    llmledger.flush()


def _sequence(url: str, engine, rng: random.Random, accepted: list[str]) -> None:
    _record(rng, accepted, 300)
    assert llmledger.rollup(engine, by=["feature", "tenant"])["calls"].sum() == 300
    command = shutil.which("llmledger", path=os.path.dirname(sys.executable))
    nightly = [command, "reaggregate", "--db", url]
    subprocess.run(nightly, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    _record(rng, accepted, 300)


def main() -> None:
    role, database, seconds, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    if "--reader-process" in sys.argv:
        from llmledger.analytics import sqlite_reader

        sqlite_reader.SMALL_READ_ROWS = 0
    url = f"sqlite:///{database}"
    rng = random.Random(seed)
    llmledger.configure(url, spool_path=f"{database}.{role}-{seed}.spool.jsonl")
    engine = make_engine(url)
    accepted: list[str] = []
    deadline = time.monotonic() + seconds
    if role == "sequence":
        _sequence(url, engine, rng, accepted)
    while role != "sequence" and time.monotonic() < deadline:
        if role.startswith("writer"):
            _record(rng, accepted, 20)
        if role in ("writer+rollup", "rollup"):
            llmledger.rollup(engine, by=["feature", "tenant"])
        if role == "reader":
            llmledger.calls(feature="f1")
        time.sleep(0.02)
    llmledger.shutdown()
    engine.dispose()
    if accepted:
        print(json.dumps(accepted))


if __name__ == "__main__":
    main()
