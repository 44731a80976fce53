"""The archive in an object store: the nightly command writes it to an S3-compatible server
on loopback (moto's), with the storage options delta-rs reads from the environment, and
`rollup(uri)` reads it back with no database.

The server runs in a process of its own: delta-rs holds the GIL in some calls that reach the
store (`DeltaTable.is_deltatable`), so a server on a thread of this process never answers.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest
from analytics.sql_rows import insert_rows, random_rows
from polars.testing import assert_frame_equal

from archive.ledgers import run
from llmledger.analytics import rollup
from llmledger.archive import archive_state
from llmledger.reaggregate import add_parser
from llmledger.store import make_engine, upgrade


@pytest.fixture
def s3(monkeypatch):
    """A bucket `ledger` on an S3 server on loopback, its credentials in the environment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:  # not listening yet
            assert time.monotonic() < deadline, "the S3 server did not start"
            time.sleep(0.1)
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="ledger")
    try:
        yield "s3://ledger/archive"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_nightly_command_archives_to_s3_and_rollup_reads_it(tmp_path, s3, capsys):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    upgrade(engine)
    insert_rows(engine, random_rows(200, seed=21))
    parser = argparse.ArgumentParser(prog="llmledger")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["reaggregate", "--db", url, "--archive", s3])
    assert args.func(args) == 0
    assert f"archive: 200 calls of 5 closed days written to {s3} (through id 200" in (
        capsys.readouterr().out
    )
    assert archive_state(s3).through_id == 200
    assert not (tmp_path / "ledger.db.archive").exists()  # the flag, not the default
    for by, bucket in ((["model"], "day"), (["feature", "tenant"], None)):
        keys = [bucket, *by] if bucket else by
        from_s3 = rollup(s3, by, bucket=bucket).sort(keys, nulls_last=True)
        assert from_s3["calls"].sum() == 200
        expected = rollup(engine, by, bucket=bucket).sort(keys, nulls_last=True)
        assert from_s3.to_dicts() == expected.to_dicts()
    engine.dispose()


def test_ray_workers_read_the_s3_archive_with_the_runtime_environments_options(
    tmp_path, s3, monkeypatch
):
    """The workers get the store's options from the job's runtime environment alone, as on a
    real cluster, where they do not inherit the driver's."""
    import ray

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    insert_rows(engine, random_rows(200, seed=21))
    run(engine, s3)
    options = {n: v for n, v in os.environ.items() if n.startswith("AWS_")}
    for name in options:
        monkeypatch.delenv(name)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": options})
    try:
        for name, value in options.items():  # the driver lists the files
            monkeypatch.setenv(name, value)
        for by, bucket in ((["model"], "day"), (["feature", "tenant"], None)):
            on_ray = rollup(s3, by, bucket=bucket, engine="ray")
            assert on_ray["calls"].sum() == 200
            assert_frame_equal(on_ray, rollup(s3, by, bucket=bucket), check_exact=True)
    finally:
        ray.shutdown()
    engine.dispose()
