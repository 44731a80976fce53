"""Which string names an archive and which a database; where the archive goes by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from llmledger.archive import archive_location, is_archive


@pytest.mark.parametrize(
    "source",
    [
        "s3://bucket/ledger",
        "gs://b/x",
        "az://c/x",
        "abfss://c@a.dfs.core.windows.net/x",
        "file:///tmp/x",
        "S3://bucket/x",
        "ledger.db.archive",
        "/var/lib/archive",
        Path("relative/archive"),
    ],
)
def test_archives(source):
    assert is_archive(source)


@pytest.mark.parametrize(
    "source",
    [
        "sqlite:///ledger.db",
        "sqlite://",
        "postgresql+psycopg://u:p@h/db",
        "mysql+pymysql://u@h/db",
        create_engine("sqlite://"),
        None,
        3,
    ],
)
def test_databases_and_others(source):
    assert not is_archive(source)


def test_default_location(tmp_path, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_ARCHIVE_URI", raising=False)
    assert archive_location(f"sqlite:///{tmp_path}/l.db") == str(tmp_path / "l.db.archive")
    assert archive_location("sqlite://") is None
    assert archive_location("postgresql+psycopg://u:p@h/db") is None
    assert archive_location("postgresql+psycopg://u:p@h/db", "s3://b/a") == "s3://b/a"
    monkeypatch.setenv("LLMLEDGER_ARCHIVE_URI", "gs://b/a")
    assert archive_location("postgresql+psycopg://u:p@h/db") == "gs://b/a"
    assert archive_location(f"sqlite:///{tmp_path}/l.db", "s3://b/a") == "s3://b/a"
