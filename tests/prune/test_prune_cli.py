"""`llmledger prune` from the shell: says what each record keeps, counts with --dry-run,
asks before deleting (or refuses to, without a terminal, unless --yes), and turns a refusal,
a bad age or a running job into one line and an exit code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from analytics.sql_rows import insert_rows, random_rows

from llmledger.cli import main
from llmledger.reaggregate.lock import one_run_at_a_time
from llmledger.store import make_engine, upgrade
from prune.ledgers import ledger, snapshot


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ledger(engine)
    engine.dispose()
    return url


def test_help_says_what_each_record_keeps(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["prune", "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for line in (
        "ledger the calls before the cutoff are deleted, with their backfilled prices",
        "daily rollup keeps every pruned day's sums; calls arriving late into a pruned day",
        "budget totals keep every period's spend as it was; the current day, week and month",
        "archive keeps every call: prune deletes from the SQL ledger only",
        "run `llmledger reaggregate` first",
    ):
        assert line in out


def test_dry_run_then_yes(url, capsys):
    engine = make_engine(url)
    before = snapshot(engine)
    assert main(["prune", "--before", "2026-01-04", "--db", url, "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    assert out == (
        "prune --dry-run: would delete 141 calls before 2026-01-04 00:00 UTC over 3 days; "
        "their sums stay in the daily rollup and budget totals\n"
    )
    assert snapshot(engine) == before
    # Without a terminal to ask on, nothing is deleted without --yes.
    assert main(["prune", "--before", "2026-01-04", "--db", url]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("prune --dry-run: would delete 141 calls")
    assert err == "llmledger prune: pass --yes to delete without asking\n"
    assert snapshot(engine) == before
    assert main(["prune", "--before", "2026-01-04", "--db", url, "--yes"]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "prune: deleted 141 calls before 2026-01-04 00:00 UTC over 3 days (and 31 backfilled "
        "prices); their sums stay in the daily rollup and budget totals\n"
    )
    assert "prune calls: 141 in " in err  # the progress bar's closing line
    assert len(snapshot(engine)["events"]) == len(before["events"]) - 141
    engine.dispose()


def test_refusals_and_bad_input_are_one_line(url, capsys):
    engine = make_engine(url)
    insert_rows(engine, random_rows(3, seed=8, first_event=900, days=1))
    assert main(["prune", "--older-than", "180d", "--db", url, "--yes"]) == 1
    assert capsys.readouterr().err == (
        "llmledger prune: not pruning calls before "
        f"{_cutoff(180)} 00:00 UTC: 3 of its calls are not rolled up yet (recorded after the "
        "last reaggregate run): run llmledger reaggregate first\n"
    )
    assert main(["prune", "--older-than", "180", "--db", url]) == 2
    assert capsys.readouterr().err == (
        "llmledger prune: older_than: '180' is not an age such as 180d or 26w\n"
    )
    with one_run_at_a_time(engine):
        assert main(["prune", "--older-than", "26w", "--db", url, "--yes"]) == 3
    assert "`llmledger prune` is running on this database" in capsys.readouterr().err
    missing = url.replace("ledger.db", "typo.db")
    assert main(["prune", "--older-than", "26w", "--db", missing, "--yes"]) == 1
    assert "no ledger at" in capsys.readouterr().err
    assert not Path(missing.removeprefix("sqlite:///")).exists()
    with pytest.raises(SystemExit):  # argparse: one of the two cutoffs, not both
        main(["prune", "--older-than", "26w", "--before", "2026-01-01", "--db", url])
    engine.dispose()


def _cutoff(days: int) -> str:
    return str(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days))
