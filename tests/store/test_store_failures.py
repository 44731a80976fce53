"""`failures.classify` on the errors real databases and drivers raise."""

from __future__ import annotations

import sqlite3

import pytest
from ledger_rows import make_row
from sqlalchemy import make_url
from tcp_proxy import free_port

from llmledger.store import make_engine
from llmledger.store.failures import Failure, classify
from llmledger.store.inserter import Inserter


def insert_error(engine, row) -> BaseException:
    with pytest.raises(Exception) as caught:
        Inserter(engine, 10)._execute([row])
    return caught.value


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"usage_source": None}, Failure.REFUSED),  # NOT NULL
        ({"input_tokens": 2**64}, Failure.REFUSED),  # past 64 bits
        ({"model": "gpt-\udc80"}, Failure.REFUSED),  # a lone surrogate
        ({"latency_ms": object()}, Failure.REFUSED),  # a value no driver sends
    ],
    ids=["not-null", "overflow", "surrogate", "object"],
)
def test_a_rows_content_is_refused(engine, values, expected):
    assert classify(insert_error(engine, make_row(1, **values))) is expected


def test_a_server_that_does_not_answer_is_unavailable(database_url, tmp_path):
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        down = f"sqlite:///{tmp_path / 'no-such-folder' / 'ledger.db'}"
    else:
        down = url.set(host="127.0.0.1", port=free_port())
    engine = make_engine(down)
    assert classify(insert_error(engine, make_row(1))) is Failure.UNAVAILABLE
    engine.dispose()


def test_a_locked_sqlite_file_is_unavailable(tmp_path):
    from llmledger.store import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}?timeout=0.05")
    upgrade(engine)
    holder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert classify(insert_error(engine, make_row(1))) is Failure.UNAVAILABLE
    finally:
        holder.execute("COMMIT")
        holder.close()
        engine.dispose()


def test_mariadb_check_error_4025_is_the_rows_fault(engine):
    if engine.dialect.name != "mysql":
        pytest.skip("MariaDB's JSON CHECK")
    error = insert_error(engine, make_row(1, tags={"file": "r\udc80port.pdf"}))
    assert type(error).__name__ == "OperationalError" and error.orig.args[0] == 4025
    assert classify(error) is Failure.REFUSED
