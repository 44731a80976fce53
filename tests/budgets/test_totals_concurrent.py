"""Four processes writing at once, some of the same calls: the totals are exact after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ledger_rows import row_count

from budgets import writer_process
from budgets.oracle import expected, stored
from llmledger.store.totals_sql import rebuild_totals

PROCESSES = 4


def start_writers(database_url, tmp_path) -> list[subprocess.Popen]:
    script = Path(writer_process.__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return [
        subprocess.Popen(
            [sys.executable, str(script), database_url, str(i), str(tmp_path / f"s{i}.jsonl")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(PROCESSES)
    ]


def test_four_writer_processes_keep_exact_totals(engine, database_url, tmp_path):
    rebuild_totals(engine, writer_process.SPEC)  # the spec in place before they start
    workers = start_writers(database_url, tmp_path)
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [w.returncode for w in workers] == [0] * PROCESSES, [e.decode() for _, e in outputs]
    stats = [json.loads(out) for out, _ in outputs]
    assert [s["waiting"] + s["rejected"] + s["lost"] for s in stats] == [0] * PROCESSES
    assert row_count(engine) == PROCESSES * writer_process.OWN + writer_process.SHARED
    totals = stored(engine, writer_process.SPEC)
    assert totals == expected(engine, writer_process.SPEC)
    app_month = [v for k, v in totals.items() if k[0] == "month" and k[2] == () and k[3] is None]
    assert sum(v[0] for v in app_month) == 1050
    print("outages (deadlocks, lock waits) per process:", [s["outages"] for s in stats])


def test_a_rebuild_while_writers_write_is_exact(engine, database_url, tmp_path):
    rebuild_totals(engine, writer_process.SPEC)
    workers = start_writers(database_url, tmp_path)
    rebuilds = 0
    while any(w.poll() is None for w in workers):  # writers wait for each rebuild's lock
        rebuild_totals(engine, writer_process.SPEC)
        rebuilds += 1
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [w.returncode for w in workers] == [0] * PROCESSES, [e.decode() for _, e in outputs]
    assert row_count(engine) == PROCESSES * writer_process.OWN + writer_process.SHARED
    assert stored(engine, writer_process.SPEC) == expected(engine, writer_process.SPEC)
    assert rebuilds >= 1
