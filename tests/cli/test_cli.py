"""The `llmledger` command, run as a user runs it: a subprocess of the installed script."""

import os
import shutil
import subprocess
import sys

import pytest

LLMLEDGER = shutil.which("llmledger", path=os.path.dirname(sys.executable))


def run(*args, cwd=None, env=None):
    return subprocess.run(
        [LLMLEDGER, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_help_lists_every_command():
    out = run("--help")
    assert out.returncode == 0
    for command in ("demo", "report", "prices", "db", "doctor", "reaggregate"):
        assert command in out.stdout
    explain = run("prices", "explain", "--help")
    assert "--input-tokens N" in explain.stdout and "--mode" in explain.stdout


def test_prices_explain_shows_rule_rates_and_exact_cost():
    out = run(
        "prices", "explain", "openai", "gpt-4o-2024-08-06",
        "--at", "2026-11-02T12:00", "--mode", "batch",
        "--input-tokens", "1000", "--cache-read-tokens", "1000", "--output-tokens", "500",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "matched     openai / gpt-4o" in text
    assert "input_mtok             $2.5 / MTok" in text
    assert "batch rates replacing them:" in text
    assert "input_mtok             $1.25 / MTok" in text
    # 1000 x $1.25 + 1000 cached x $1.25 (no batch cached rate) + 500 x $5, per MTok.
    assert "total" in text and "$0.005000000000" in text


def test_prices_explain_unknown_model_exits_1():
    out = run("prices", "explain", "openai", "gpt-does-not-exist", "--input-tokens", "10")
    assert out.returncode == 1
    assert "cannot be priced" in out.stdout
    assert "override" in out.stdout


def test_demo_then_report(tmp_path):
    out = run("demo", "--calls", "3000", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "recorded 3,000 calls" in out.stdout
    assert "Top models" in out.stdout and "Top feature" in out.stdout and "Top tenant" in out.stdout
    assert "Unpriced models" in out.stdout and "acme-gateway/acme-rerank-v2" in out.stdout
    assert (tmp_path / "llmledger-demo.db").exists()
    report = run("report", "--db", "sqlite:///llmledger-demo.db", "--by", "feature", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "spend" in report.stdout and "over 3,000 calls" in report.stdout
    db = "sqlite:///llmledger-demo.db"
    since = run("report", "--db", db, "--since", "2100-01-01", cwd=tmp_path)
    assert "no calls recorded in this range" in since.stdout
    # A model without a price is unpriced in the table, not $0, and ranks below priced ones.
    every = run("report", "--db", db, "--top", "50", cwd=tmp_path).stdout
    rows = every.split("Top models")[1].split("\n\n")[0].splitlines()[3:]  # past the header
    unpriced = [row.endswith(" unpriced") for row in rows]
    assert any("acme-rerank-v2" in row and row.endswith(" unpriced") for row in rows), rows
    assert unpriced == sorted(unpriced) and "$0 " not in every, rows


def test_db_upgrade_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    for _ in range(2):
        out = run("db", "upgrade", "--db", url)
        assert out.returncode == 0, out.stderr
        assert "schema up to date" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--since", "yesterday"],
        ["report", "--top", "-1"],
        ["demo", "--calls", "0"],
        ["nope"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(args):
    out = run(*args)
    assert out.returncode == 2
    assert out.stderr


def test_doctor(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    (tmp_path / "ledger.db").touch()  # a database without the ledger's tables
    missing = run("doctor", "--db", url)
    assert missing.returncode == 1
    assert "run `llmledger db upgrade" in missing.stdout
    run("db", "upgrade", "--db", url)
    healthy = run("doctor", "--db", url)
    assert healthy.returncode == 0, healthy.stdout
    assert ", up to date" in healthy.stdout
    assert "0 calls" in healthy.stdout and "spool      empty" in healthy.stdout
    down = run("doctor", "--db", "postgresql+psycopg://u:secret@127.0.0.1:9/ledger")
    assert down.returncode == 1
    assert "reachable  NO" in down.stdout and "secret" not in down.stdout


def test_a_database_that_cannot_be_opened_is_one_line_not_a_traceback(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'ledger.db'}"
    for command in (["reaggregate"], ["db", "upgrade"]):
        out = run(*command, "--db", url)
        assert out.returncode == 1, out.stderr
        name = " ".join(command)
        assert out.stderr == (
            f"llmledger {command[0]}: database {url}: unable to open database file"
            " (`llmledger doctor` checks the connection and schema)\n"
        ), name
    down = run("report", "--db", "postgresql+psycopg://u:secret@127.0.0.1:9/ledger")
    assert down.returncode == 1
    assert down.stderr.startswith("llmledger report: database postgresql+psycopg://u:***@")
    assert "secret" not in down.stderr and "Traceback" not in down.stderr


def test_a_database_without_the_ledger_is_one_line_naming_the_fix(database_url):
    from sqlalchemy.engine import make_url

    from llmledger.store.engine import head_revision

    shown = make_url(database_url).render_as_string(hide_password=True)
    expected = (
        f"{shown} has no ledger tables, this llmledger needs revision {head_revision()}: "
        "run `llmledger db upgrade` with this database URL"
    )
    # SQLite: reaggregate creates the tables, as recording does; report only reads.
    writes = database_url.startswith("sqlite")
    if writes:  # an existing file without the ledger (a missing one is `no ledger at`)
        open(make_url(database_url).database, "w").close()
    for command in ("report", "reaggregate"):
        out = run(command, "--db", database_url)
        if command == "reaggregate" and writes:
            assert out.returncode == 0, out.stderr
            continue
        assert out.returncode == 1, out.stderr
        assert out.stderr.startswith(f"llmledger {command}: {expected}"), out.stderr
        assert out.stderr.count("\n") == 1


def test_a_bad_overrides_file_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "prices.json"
    out = run("prices", "explain", "openai", "gpt-4o", "--overrides", str(missing))
    assert out.returncode == 2
    assert out.stderr.startswith(f"llmledger prices: cannot read price overrides file {missing}:")
    assert out.stderr.count("\n") == 1


def test_reaggregate_refuses_a_tag_key_named_twice(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    out = run("reaggregate", "--db", url, "--rebuild", "--tags", "feature,tenant,feature")
    assert out.returncode == 2
    assert out.stderr == "llmledger reaggregate: --tags names a key twice: feature,tenant,feature\n"
