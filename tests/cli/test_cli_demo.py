"""`llmledger demo` and the command a user runs next."""

from __future__ import annotations

import sqlite3

from sqlalchemy.engine import make_url

from llmledger.cli import main


def _calls(path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(*) FROM llmledger_calls").fetchone()[0]


def test_after_the_demo_report_points_at_the_demo_ledger_and_creates_nothing(
    llmledger_cmd, tmp_path
):
    demo = llmledger_cmd("demo", "--calls", "200", "--by", "feature", "--top", "3")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("recorded 200 calls in sqlite:///llmledger-demo.db\n")
    assert demo.stdout.endswith(
        "\nto report on it again: llmledger report --db llmledger-demo.db\n"
    )
    report = llmledger_cmd("report")
    assert (report.returncode, report.stdout) == (1, "")
    assert report.stderr == (
        "llmledger report: no ledger at llmledger.db; the demo's is llmledger-demo.db: "
        "llmledger report --db llmledger-demo.db\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["llmledger-demo.db"]
    again = llmledger_cmd("report", "--db", "llmledger-demo.db")
    assert again.returncode == 0, again.stderr
    assert "  spend       " in again.stdout and "over 200 calls" in again.stdout
    # The demo's own file is re-created, never appended to.
    assert llmledger_cmd("demo", "--calls", "100").returncode == 0
    assert _calls(tmp_path / "llmledger-demo.db") == 100


def test_the_demo_refuses_a_database_that_holds_calls_unless_forced(
    llmledger_cmd, tmp_path, monkeypatch, capsys
):
    first = llmledger_cmd("demo", "--calls", "100", "--db", "ledger.db")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("recorded 100 calls in sqlite:///ledger.db\n")
    assert first.stdout.endswith("\nto report on it again: llmledger report --db ledger.db\n")
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--calls", "100", "--db", "ledger.db"]) == 1
    assert capsys.readouterr() == (
        "",
        "llmledger demo: sqlite:///ledger.db already holds calls; the demo would add 100 "
        "synthetic ones to them. Leave out --db (the demo records into its own "
        "llmledger-demo.db), or add --force to add them anyway.\n",
    )
    assert _calls(tmp_path / "ledger.db") == 100
    forced = llmledger_cmd("demo", "--calls", "100", "--db", "ledger.db", "--force")
    assert forced.returncode == 0, forced.stderr
    assert _calls(tmp_path / "ledger.db") == 200


def test_the_demo_never_prints_a_password(database_url, llmledger_cmd):
    # The test servers' password is the user's name too: look for it after the colon.
    url = make_url(database_url)
    secret = f":{url.password}@"
    assert llmledger_cmd("db", "upgrade", "--db", database_url).returncode == 0
    demo = llmledger_cmd("demo", "--calls", "50", "--top", "2", "--db", database_url)
    assert demo.returncode == 0, demo.stderr
    shown = url.render_as_string(hide_password=True)
    assert demo.stdout.startswith(f"recorded 50 calls in {shown}\n")
    refused = llmledger_cmd("demo", "--calls", "50", "--db", database_url)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"llmledger demo: {shown} already holds calls;")
    for out in (demo, refused):
        assert url.password is None or secret not in out.stdout + out.stderr
