"""Database fixtures shared by every suite: one URL per backend, a fresh database per test.

PostgreSQL and MySQL/MariaDB come from `LLMLEDGER_TEST_POSTGRES_URL` and
`LLMLEDGER_TEST_MYSQL_URL` (``scripts/test-services.sh`` starts both and prints them). A
backend whose URL is unset is skipped, except under CI, where that is a failure.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

SERVER_URL_VARIABLES = {
    "postgresql": "LLMLEDGER_TEST_POSTGRES_URL",
    "mysql": "LLMLEDGER_TEST_MYSQL_URL",
}


def server_url(backend: str) -> str:
    """The test server URL for `backend`; skips (fails under CI) when it is not set."""
    variable = SERVER_URL_VARIABLES[backend]
    url = os.environ.get(variable)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{variable} is not set: CI must test {backend} (see .ci/run)")
        pytest.skip(f"{variable} is not set (scripts/test-services.sh starts a server)")
    return url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def database_url(request, tmp_path):
    """A URL to a new, empty database on each backend, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    server = make_url(server_url(request.param))
    name = f"llmledger_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        # FORCE: a writer thread's pooled connection must not keep the database alive.
        force = " WITH (FORCE)" if request.param == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name}{force}"))
        admin.dispose()
