"""The spend report's figures and text, from calls recorded through `track()`."""

import datetime as dt
import re
from decimal import Decimal

import llmledger
from llmledger.cli import main
from llmledger.report import render, summarize

MONDAY = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def test_what_no_call_priced_is_unpriced_not_free(tmp_path):
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        llmledger.track("openai", "gpt-4o", input_tokens=1000, at=MONDAY)
        # The next week: only a model without a price.
        for _ in range(3):
            llmledger.track("openai", "no-such-model", input_tokens=1000, at=MONDAY.replace(day=9))
        summary = summarize(llmledger.calls(), by=[])
    finally:
        llmledger.shutdown()
    models = summary.top_models.select("model", "cost").rows()
    assert models == [
        ("gpt-4o", Decimal("0.0025")),  # $2.50 per million input tokens
        ("no-such-model", None),
    ]
    assert summary.weekly["cost"].to_list()[1] is None
    text = render(summary)
    assert "  2026-11-09         3      unpriced" in text.splitlines()
    assert not re.search(r"\$0(?![.\d])", text), text  # no "$0" figure


def _ledger(path) -> None:
    """Three tenants of very different spend, and two calls no price covers a week later."""
    llmledger.configure(f"sqlite:///{path}")
    try:
        llmledger.track("openai", "gpt-4o", input_tokens=2_892_000, at=MONDAY, tags=BIG)
        llmledger.track("openai", "gpt-4o-mini", input_tokens=1_234_567, at=MONDAY, tags=MID)
        llmledger.track("openai", "gpt-4o-mini", input_tokens=28_000, at=MONDAY, tags=SMALL)
        for _ in range(2):
            llmledger.track("openai", "no-such-model", input_tokens=10, at=MONDAY.replace(day=9))
    finally:
        llmledger.shutdown()


BIG, MID, SMALL = ({"tenant": t} for t in ("big", "mid", "small"))


def test_the_report_prints_money_one_way(tmp_path, capsys):
    # $2.50 / MTok: 2,892,000 tokens cost $7.23; gpt-4o-mini's $0.15 / MTok: $0.18518505
    # and $0.0042. Cents at or above a cent, two significant digits below.
    _ledger(tmp_path / "ledger.db")
    assert main(["report", "--db", f"sqlite:///{tmp_path / 'ledger.db'}", "--by", "tenant"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        "llmledger report\n"
        "  period      2026-11-02 12:00 .. 2026-11-09 12:00 UTC\n"
        "  spend       $7.42  over 5 calls\n"
        "  unpriced    2 calls (40.0%): cost unknown, not zero\n"
        "  failed      0 calls\n"
        "  tokens      input 4,154,587\n"
        "\n"
        "Top models\n"
        "  provider  model          calls      cost  share\n"
        "  --------  -------------  -----  --------  -----\n"
        "  openai    gpt-4o             1     $7.23  97.4%\n"
        "  openai    gpt-4o-mini        2     $0.19   2.6%\n"
        "  openai    no-such-model      2  unpriced\n"
        "\n"
        "Spend by week (UTC, from Monday)\n"
        "  2026-11-02         3         $7.42  ########################################\n"
        "  2026-11-09         2      unpriced\n"
        "\n"
        "Top tenant\n"
        "  tenant      calls      cost  share\n"
        "  ----------  -----  --------  -----\n"
        "  big             1     $7.23  97.4%\n"
        "  mid             1     $0.19   2.5%\n"
        "  small           1   $0.0042   0.1%\n"
        "  (untagged)      2  unpriced\n"
        "\n"
        "Unpriced models (add a price override, or wait for the catalog)\n"
        "  openai/no-such-model: 2 calls\n"
    )


def test_the_reports_sums_are_rollups_exact_to_the_picodollar(tmp_path):
    _ledger(tmp_path / "ledger.db")
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        frame = llmledger.calls()
    finally:
        llmledger.shutdown()
    summary = summarize(frame, by=["tenant", "pricing_mode"])
    assert summary.cost == Decimal("7.41938505")
    assert (summary.calls, summary.unpriced_calls, summary.failed_calls) == (5, 2, 0)
    assert summary.by_tag["tenant"].select("tenant", "calls", "cost").rows() == [
        ("big", 1, Decimal("7.23")),
        ("mid", 1, Decimal("0.18518505")),
        ("small", 1, Decimal("0.0042")),
        ("(untagged)", 2, None),
    ]
    # A key naming a column groups by it (it once read every call as untagged).
    assert summary.by_tag["pricing_mode"].select("pricing_mode", "calls", "cost").rows() == [
        ("standard", 5, Decimal("7.41938505"))
    ]
    assert summary.weekly.rows() == [
        ("2026-11-02", 3, Decimal("7.41938505")),
        ("2026-11-09", 2, None),
    ]
    # The same figures as the rollup an application asks for.
    rolled = llmledger.rollup(frame, by=["provider", "model"]).select("model", "calls", "cost")
    assert sorted(summary.top_models.select("model", "calls", "cost").rows()) == sorted(
        rolled.rows()
    )


def test_a_ledger_with_no_priced_call_has_unpriced_spend_not_zero(tmp_path, capsys):
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        llmledger.track("openai", "no-such-model", input_tokens=10, at=MONDAY)
    finally:
        llmledger.shutdown()
    assert main(["report", "--db", f"sqlite:///{tmp_path / 'ledger.db'}", "--by", ""]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "  spend       unpriced  over 1 calls"
    assert "  openai    no-such-model      1  unpriced" in lines


def test_a_tag_key_no_call_has_is_one_line_on_stderr(tmp_path, capsys):
    _ledger(tmp_path / "ledger.db")
    assert main(["report", "--db", f"sqlite:///{tmp_path / 'ledger.db'}", "--by", "tenatn"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("llmledger report: ") and err.count("\n") == 1, err
    assert "tenatn" in err and "tenant" in err
    assert "Top tenatn" in out
