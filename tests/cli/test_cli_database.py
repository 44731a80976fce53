"""Which databases `--db`, `LLMLEDGER_DATABASE_URL` and `configure()` accept, as users write
them, and what a command says about one it cannot use or that holds no ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url

import llmledger
from llmledger.cli import main
from llmledger.store import make_engine
from llmledger.store.urls import UnusableDatabaseURL, hide_password, ledger_url

AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
FORMS = "give a file path (ledger.db), sqlite:///PATH, postgresql://... or mysql://..."


def _as_typed(database_url: str) -> str:
    """The test database as people write it: a bare file name, postgres://, mysql://."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return "ledger.db"  # the fixture's file, relative to the test's folder
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[url.get_backend_name()]
    return url.set(drivername=scheme).render_as_string(hide_password=False)


def test_a_path_postgres_and_mysql_url_work_in_every_command(
    database_url, llmledger_cmd, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    typed = _as_typed(database_url)
    shown = make_url(database_url).render_as_string(hide_password=True)
    if typed == "ledger.db":
        shown = "sqlite:///ledger.db"
    upgraded = llmledger_cmd("db", "upgrade", "--db", typed)
    assert (upgraded.returncode, upgraded.stdout) == (0, f"schema up to date: {shown}\n")
    engine = make_engine(typed)  # as configure(typed) makes it, but closed after
    llmledger.configure(engine)
    try:
        llmledger.track("openai", "gpt-4o", input_tokens=1000, at=AT)  # $2.50 / MTok
    finally:
        llmledger.shutdown()
        engine.dispose()
    spend = "  spend       $0.0025  over 1 calls"
    report = llmledger_cmd("report", "--db", typed)
    assert report.returncode == 0, report.stderr
    assert spend in report.stdout.splitlines()
    from_env = llmledger_cmd("report", env={"LLMLEDGER_DATABASE_URL": typed})
    assert from_env.stdout == report.stdout
    doctor = llmledger_cmd("doctor", "--db", typed)
    assert doctor.returncode == 0, doctor.stdout
    assert f"  database   {shown}" in doctor.stdout.splitlines()
    assert "  ledger     1 calls, 0.0% unpriced" in doctor.stdout


UNUSABLE = [
    (
        "foo://me:s3cret@host/db",
        f"unsupported database foo://me:***@host/db: llmledger records into SQLite, "
        f"PostgreSQL or MySQL/MariaDB ({FORMS})",
    ),
    ("sqlite:ledger.db", f"not a database URL: sqlite:ledger.db ({FORMS})"),
    (
        "postgresql://me:s3cret@host:5432x/db",
        "not a database URL: postgresql://me:***@host:5432x/db "
        "(invalid literal for int() with base 10: '5432x')",
    ),
    (
        "postgresql+nodriver://me:s3cret@host/db",
        f"unknown driver 'nodriver' in postgresql+nodriver://me:***@host/db ({FORMS})",
    ),
]


@pytest.mark.parametrize(("url", "message"), UNUSABLE)
@pytest.mark.parametrize(
    "command", [["report"], ["doctor"], ["db", "upgrade"], ["demo"], ["reaggregate"]]
)
def test_a_database_it_cannot_use_is_one_line_with_the_password_hidden_and_exit_2(
    url, message, command, capsys
):
    assert main([*command, "--db", url]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"llmledger {command[0]}: {message}\n")


def test_an_unusable_database_from_the_command_line_is_not_a_traceback(llmledger_cmd):
    down = llmledger_cmd("report", "--db", "mysql://me:s3cret@127.0.0.1:9/db")
    assert down.returncode == 1  # a usable URL, with no server behind it
    assert down.stderr.startswith("llmledger report: database mysql+pymysql://me:***@127.0.0.1:9")
    assert "s3cret" not in down.stderr and "Traceback" not in down.stderr
    bad = llmledger_cmd("report", env={"LLMLEDGER_DATABASE_URL": "oracle://me:s3cret@host/db"})
    assert bad.returncode == 2
    assert bad.stderr == (
        "llmledger report: unsupported database oracle://me:***@host/db: llmledger records "
        f"into SQLite, PostgreSQL or MySQL/MariaDB ({FORMS})\n"
    )


def test_configure_takes_the_same_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnusableDatabaseURL, match=r"^unsupported database foo://me:\*\*\*@h/d"):
        llmledger.configure("foo://me:s3cret@h/d")
    monkeypatch.setenv("LLMLEDGER_DATABASE_URL", "from-env.db")
    llmledger.configure()
    try:
        llmledger.track("openai", "gpt-4o", input_tokens=1000, at=AT)
        assert llmledger.calls()["cost"].to_list() == [Decimal("0.0025")]
    finally:
        llmledger.shutdown()
    assert (tmp_path / "from-env.db").exists()


@pytest.mark.parametrize(
    ("given", "opened"),
    [
        ("ledger.db", "sqlite:///ledger.db"),
        ("./data/ledger.db", "sqlite:///./data/ledger.db"),
        ("postgres://me:pw@db.internal/app", "postgresql+psycopg://me:pw@db.internal/app"),
        ("postgresql://me:pw@db/app?sslmode=require", "postgresql+psycopg://me:pw@db/app?sslmode=require"),
        ("mysql://me:pw@db/app?charset=utf8mb4", "mysql+pymysql://me:pw@db/app?charset=utf8mb4"),
        ("mariadb://me:pw@db/app", "mariadb+pymysql://me:pw@db/app"),
        ("postgresql+psycopg://me:pw@db/app", "postgresql+psycopg://me:pw@db/app"),
        ("sqlite:///ledger.db", "sqlite:///ledger.db"),
        ("sqlite://", "sqlite://"),
    ],
)  # fmt: skip
def test_ledger_url(given, opened):
    assert ledger_url(given).render_as_string(hide_password=False) == opened


def test_hide_password():
    assert hide_password("postgresql://me:p@ss:w0rd@db/app") == "postgresql://me:***@db/app"
    assert hide_password("not a url: me:pw") == "not a url: me:pw"
    assert (
        hide_password(make_url("mysql+pymysql://me:pw@db/app")) == "mysql+pymysql://me:***@db/app"
    )


@pytest.mark.parametrize("command", ["report", "doctor"])
def test_reading_a_missing_sqlite_file_creates_nothing(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMLEDGER_DATABASE_URL", raising=False)
    assert main([command, "--db", "ledger.db"]) == 1
    assert capsys.readouterr().err == (
        f"llmledger {command}: no ledger at ledger.db: no such file (recording into it creates "
        "it, as does `llmledger db upgrade --db ledger.db`)\n"
    )
    assert main([command]) == 1  # the default database, llmledger.db
    assert capsys.readouterr().err == (
        f"llmledger {command}: no ledger at llmledger.db: no such file (recording into it "
        "creates it, as does `llmledger db upgrade --db llmledger.db`)\n"
    )
    assert list(tmp_path.iterdir()) == []
