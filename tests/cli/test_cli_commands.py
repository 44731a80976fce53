"""`--version`, `--help`, and `prices explain` given a name the catalog does not know."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from llmledger.cli import main
from llmledger.pricing import build_pricer


def test_version(llmledger_cmd):
    out = llmledger_cmd("--version")
    assert (out.returncode, out.stdout) == (0, f"llmledger {version('llmledger')}\n")


def _help(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit:
        main([*args, "--help"])
    assert exit.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # as one line, whatever the wrapping


def test_help_names_the_database_forms_and_shows_examples(capsys):
    top = _help(capsys)
    assert "--version" in top
    assert "--db ledger.db a SQLite file (sqlite:///ledger.db)" in top
    assert "--db postgresql://user@host/db PostgreSQL through psycopg (or postgres://)" in top
    assert "Start with `llmledger demo`, then `llmledger report --db llmledger-demo.db`" in top
    for command in (["report"], ["doctor"], ["db", "upgrade"]):
        assert "--db DATABASE the ledger's database: a SQLite file path (ledger.db)" in _help(
            capsys, *command
        )
    report = _help(capsys, "report")
    assert "examples: llmledger report --db ledger.db" in report
    assert "Only reads the ledger." in report
    demo = _help(capsys, "demo")
    assert "llmledger-demo.db, re-created each time" in demo
    assert "--force with --db: add the demo's calls even where the database already holds" in demo
    explain = _help(capsys, "prices", "explain")
    assert "--cache-read-tokens N cache read tokens to price" in explain
    assert "2 for a provider or mode the catalog (and --overrides) does not know" in explain


def test_an_unknown_pricing_mode_exits_2_with_a_suggestion(capsys):
    assert main(["prices", "explain", "openai", "gpt-4o", "--mode", "bacth"]) == 2
    modes = ", ".join(build_pricer().modes)
    assert capsys.readouterr() == (
        "",
        "llmledger prices: unknown pricing mode 'bacth': did you mean batch? "
        f"(the catalog's modes: {modes})\n",
    )
    assert main(["prices", "explain", "openai", "gpt-4o", "--mode", "qqq"]) == 2
    assert capsys.readouterr().err == (
        f"llmledger prices: unknown pricing mode 'qqq' (the catalog's modes: {modes})\n"
    )


def test_an_unknown_provider_exits_2_with_a_suggestion(capsys):
    pricer = build_pricer()
    known = f"({pricer.source} has {len(pricer.spec['providers'])} providers; "
    assert main(["prices", "explain", "opneai", "gpt-4o"]) == 2
    assert capsys.readouterr() == (
        "",
        f"llmledger prices: unknown provider 'opneai': did you mean openai? {known}"
        "--overrides can price any other)\n",
    )


def test_a_provider_of_the_overrides_is_known(tmp_path, capsys):
    overrides = tmp_path / "prices.json"
    overrides.write_text(
        '{"models": [{"provider": "acme", "model": "acme-1", '
        '"prices": {"input_mtok": "2", "output_mtok": "4"}}]}'
    )
    args = ["prices", "explain", "acme", "acme-1", "--overrides", str(overrides)]
    assert main([*args, "--input-tokens", "1000"]) == 0
    assert "    total                                       $0.002000000000" in (
        capsys.readouterr().out.splitlines()
    )


def test_a_mode_the_model_has_no_rates_for_is_said(capsys):
    args = ["prices", "explain", "google", "gemini-2.5-flash", "--mode", "flex"]
    assert main([*args, "--at", "2026-11-02"]) == 0
    assert (
        "  note        the catalog has no flex rates for this model on 2026-11-02: its flex "
        "calls are priced at the rates above"
    ) in capsys.readouterr().out.splitlines()
    # gpt-4o's batch rates start on 2026-10-14 in the catalog.
    batch = ["prices", "explain", "openai", "gpt-4o", "--mode", "batch", "--at"]
    assert main([*batch, "2026-10-13"]) == 0
    assert "  note        the catalog has no batch rates for this model on 2026-10-13: its " in (
        capsys.readouterr().out
    )
    assert main([*batch, "2026-10-14"]) == 0
    out = capsys.readouterr().out
    assert "  batch rates replacing them:" in out and "note" not in out
