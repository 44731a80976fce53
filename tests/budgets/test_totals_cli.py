"""`llmledger spool replay` (and `--rejected`) keep the totals the database keeps, without
being told the spec: rows they write count once, like the app's writer's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from ledger_rows import make_row, row_count

from budgets.oracle import expected, stored
from llmledger.store import Writer
from llmledger.store.spool import Spool, encode_rows
from llmledger.store.totals import TotalsSpec

LLMLEDGER = shutil.which("llmledger", path=os.path.dirname(sys.executable))
SPEC = TotalsSpec(tag_keys=("tenant",))


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([LLMLEDGER, *args], capture_output=True, text=True, timeout=120, env=env)


def test_spool_replay_and_resubmitted_rows_count_once(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    spool = Spool(tmp_path / "spool.jsonl")
    writer = Writer(engine, spool_path=spool.path, totals=SPEC)
    for row in (make_row(0), make_row(1, input_tokens=2**64), make_row(2)):
        writer.submit(row)
    assert writer.flush(timeout=30)
    writer.close()
    assert stored(engine, SPEC) == expected(engine, SPEC)

    [entry] = [json.loads(line) for line in spool.rejects_path.read_bytes().splitlines()]
    entry["row"]["input_tokens"] = 1001  # the fix
    spool.rejects_path.write_text(json.dumps(entry) + "\n")
    resubmit = run("spool", "replay", "--rejected", "--db", url, "--spool", str(spool.path))
    assert resubmit.returncode == 0, resubmit.stderr

    spool.append(encode_rows([make_row(0), make_row(3), make_row(3)]))  # one old, one new
    replay = run("spool", "replay", "--db", url, "--spool", str(spool.path))
    assert replay.returncode == 0, replay.stderr
    assert row_count(engine) == 4
    totals = stored(engine, SPEC)
    assert totals == expected(engine, SPEC)
    assert totals[("month", "2026-11-01", (), None, None)][0] == 4
