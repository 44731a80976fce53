"""The fault suite's fixtures: a PostgreSQL server of the test's own, which it may stop.

The shared test servers (tests/conftest.py) must never be stopped, so the tests that stop a
server start a throwaway cluster: `initdb --no-sync` as the ``postgres`` user, in a folder of
its own, on a free loopback port; `stop()` kills it the way a crash would
(``pg_ctl stop -m immediate``) and `start()` brings it back through crash recovery. Without
PostgreSQL's binaries (``scripts/test-services.sh`` installs them) those tests are skipped,
except under CI, where that is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The storage suite's helpers (rows built by hand, a TCP proxy to stage outages).
sys.path.insert(0, str(Path(__file__).parent.parent / "store"))

from tcp_proxy import free_port

import llmledger
from llmledger.store import make_engine, upgrade


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class Cluster:
    """A PostgreSQL cluster owned by one test module: `url`, `stop()`, `start()`."""

    def __init__(self, bin_dir: Path, home: Path) -> None:
        self.bin_dir = bin_dir
        self.data = home / "data"
        self.log = home / "server.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(
            "initdb", "--no-sync", "-A", "trust", "-U", "postgres", "-D", str(self.data)
        )

    def _as_postgres(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=off -c full_page_writes=off"
        )
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        """Stop at once, as a crash would: open connections are cut, nothing is flushed."""
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture(scope="module")
def cluster():
    """A running throwaway PostgreSQL cluster with the ledger's tables, stopped afterwards."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's binaries are missing: CI must run the fault suite")
        pytest.skip("PostgreSQL's binaries are missing (scripts/test-services.sh installs them)")
    # Not under pytest's tmp_path: its folders are private to root, and the server runs as
    # the postgres user.
    home = Path(tempfile.mkdtemp(prefix="llmledger-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    server = Cluster(bin_dir, home)
    server.start()
    engine = make_engine(server.url)
    upgrade(engine)
    engine.dispose()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def running(cluster):
    """The cluster, started if a previous test left it stopped."""
    with contextlib.suppress(subprocess.CalledProcessError):  # already running
        cluster.start()
    return cluster


@pytest.fixture
def unconfigured():
    """No llmledger configuration before the test, and none left after it."""
    llmledger.shutdown()
    yield
    llmledger.shutdown()
