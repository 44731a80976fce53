"""Set-aside rows are visible (`llmledger doctor`) and can be sent again after a fix
(`llmledger spool replay --rejected`), each stored once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from ledger_rows import event_ids, make_row

from llmledger.store import Writer, make_engine, upgrade
from llmledger.store.spool import Spool, encode_rows

LLMLEDGER = shutil.which("llmledger", path=os.path.dirname(sys.executable))


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([LLMLEDGER, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_rejected_rows_are_counted_fixed_and_resubmitted_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    upgrade(engine)
    spool = Spool(tmp_path / "spool.jsonl")
    writer = Writer(engine, spool_path=spool.path)
    for row in (
        make_row(0),
        make_row(1, input_tokens=2**64),  # a parser bug's value
        make_row(2, usage_source=None),  # a NOT NULL column left empty
        make_row(3),
    ):
        writer.submit(row)
    assert writer.flush(timeout=30)
    writer.close()
    spool.append(encode_rows([make_row(4)]))  # and one row waiting for the database
    spool.append(b"torn", rejects=True)  # an entry that is not a row
    assert event_ids(engine) == [make_row(n)["event_id"] for n in (0, 3)]

    doctor = run("doctor", "--db", url, "--spool", str(spool.path))
    assert doctor.returncode == 1
    assert f"spool      1 rows waiting in {spool.path}" in doctor.stdout
    assert f"rejected   3 rows set aside in {spool.rejects_path}" in doctor.stdout
    assert "llmledger spool replay --rejected" in doctor.stdout

    # The fix: the overflowing count corrected by hand; row 2 is still wrong.
    lines = spool.rejects_path.read_bytes().splitlines()
    assert lines[-1] == b"torn"
    entries = [json.loads(line) for line in lines[:-1]]
    for entry in entries:
        if entry["row"]["event_id"] == make_row(1)["event_id"]:
            assert "too large" in entry["reason"]  # SQLite's driver: "Python int too large"
            entry["row"]["input_tokens"] = 1001
    fixed = "".join(json.dumps(entry) + "\n" for entry in entries) + "torn\n"
    spool.rejects_path.write_text(fixed)

    resubmit = run("spool", "replay", "--rejected", "--db", url, "--spool", str(spool.path))
    assert resubmit.returncode == 1, resubmit.stderr  # rows remain set aside
    assert resubmit.stdout == (
        f"re-submitted the rejected rows of {spool.rejects_path} to {url}: 1 rows written, "
        "1 refused again, 1 entries that are not rows left as they are\n"
    )
    assert event_ids(engine) == [make_row(n)["event_id"] for n in (0, 1, 3)]
    left = spool.rejects_path.read_bytes().splitlines()
    assert left[0] == b"torn"  # kept as it was
    [refused] = [json.loads(line) for line in left[1:]]
    assert refused["row"]["event_id"] == make_row(2)["event_id"]
    assert "NOT NULL" in refused["reason"]

    # Fixed too, sent again with an already stored row: each is kept once.
    refused["row"]["usage_source"] = "manual"
    again = [refused, {"reason": "x", "row": make_row(1) | {"input_tokens": 1001}}]
    spool.rejects_path.write_text("".join(json.dumps(entry) + "\n" for entry in again))
    assert run("spool", "replay", "--rejected", "--db", url, "--spool", str(spool.path)).stdout
    assert event_ids(engine) == [make_row(n)["event_id"] for n in (0, 1, 2, 3)]
    assert spool.rejected() == 0

    replay = run("spool", "replay", "--db", url, "--spool", str(spool.path))
    assert replay.returncode == 0, replay.stderr
    assert "1 rows written, 0 set aside" in replay.stdout
    assert event_ids(engine) == [make_row(n)["event_id"] for n in range(5)]
    healthy = run("doctor", "--db", url, "--spool", str(spool.path))
    assert healthy.returncode == 0, healthy.stdout
    assert "spool      empty" in healthy.stdout and "\n  rejected" not in healthy.stdout
    engine.dispose()


def test_spool_help_explains_the_spool_and_the_rejected_file():
    out = run("spool", "--help")
    assert out.returncode == 0
    assert "rejected.jsonl" in out.stdout and "event_id" in out.stdout
    replay = run("spool", "replay", "--help")
    assert "--rejected" in replay.stdout and "--db" in replay.stdout


def test_doctor_counts_the_spool_of_a_database_that_is_down(tmp_path):
    url = "postgresql+psycopg://u:secret@127.0.0.1:9/ledger"
    from llmledger.store.spool import default_spool_path

    path = tmp_path / default_spool_path(url).name
    path.write_bytes(encode_rows([make_row(1), make_row(2)]))
    out = run("doctor", "--db", url, cwd=tmp_path)
    assert out.returncode == 1
    assert "reachable  NO" in out.stdout
    assert "spool      2 rows waiting in" in out.stdout and "secret" not in out.stdout
