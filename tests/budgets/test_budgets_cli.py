"""`llmledger budgets` on SQLite, PostgreSQL and MariaDB: the app's own budget list, figures
worked out by hand from the calls recorded, unpriced calls in a column of their own.

The calls (Europe/Berlin, UTC+1 in November; 100,000 input tokens of gpt-4o at 2.50 USD per
million is 0.25 USD, of gpt-4o-mini at 0.15 is 0.015 USD):

    2026-11-01 00:30 Berlin (Oct 31 in UTC)  no tenant  gpt-4o              0.25
    2026-11-09 15:00 (Monday)                globex     gpt-4o-2024-11-20   0.25
    2026-11-10 00:30 (Nov 9 in UTC)          globex     gpt-4o              0.25
    2026-11-10 09:00                         acme       gpt-4o-2024-08-06   0.25  (twice)
    2026-11-10 09:00                         acme       house-model         unpriced
    2026-11-10 10:00                         initech    gpt-4o-mini         0.015

At 2026-11-10 12:00 Berlin: the day is half gone (projection x2), the week (from Monday
Nov 9) 36 of 168 hours (x14/3), the month 228 of 720 hours (x60/19).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from zoneinfo import ZoneInfo

import pytest

import llmledger
from llmledger.cli import main
from llmledger.store import make_engine, upgrade

BERLIN = ZoneInfo("Europe/Berlin")
AT = "2026-11-10T12:00:00+01:00"
MODULE = """\
import llmledger

BUDGETS = [
    llmledger.Budget("month", usd=500),
    llmledger.Budget("day", usd=1, per="tenant", action="block", unpriced="block"),
    llmledger.Budget("week", usd="0.6", provider="openai", model="gpt-4o"),
    llmledger.Budget("call", usd=2, action="raise"),
    llmledger.Budget("day", usd=5, per="user"),
]
SETTINGS = {"budgets": BUDGETS}


class LLM:
    budgets = BUDGETS
"""
CALLS = [
    ("2026-11-01 00:30", None, "gpt-4o"),
    ("2026-11-09 15:00", "globex", "gpt-4o-2024-11-20"),
    ("2026-11-10 00:30", "globex", "gpt-4o"),
    ("2026-11-10 09:00", "acme", "gpt-4o-2024-08-06"),
    ("2026-11-10 09:00", "acme", "gpt-4o-2024-08-06"),
    ("2026-11-10 09:00", "acme", "house-model"),
    ("2026-11-10 10:00", "initech", "gpt-4o-mini"),
]


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    """The app's settings module in the working directory, and its calls in the ledger:
    ``(url, "module")``."""
    module = f"settings_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the command adds the working directory
    monkeypatch.delenv("LLMLEDGER_BUDGETS", raising=False)
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    namespace: dict = {}
    exec(MODULE, namespace)
    llmledger.configure(database_url, budgets=namespace["BUDGETS"], budget_tz="Europe/Berlin")
    for when, tenant, model in CALLS:
        at = dt.datetime.fromisoformat(when).replace(tzinfo=BERLIN)
        tags = {} if tenant is None else {"tenant": tenant}
        llmledger.track("openai", model, at=at, tags=tags, input_tokens=100_000)
    llmledger.shutdown()  # all written, before the database is dropped
    yield database_url, module
    sys.modules.pop(module, None)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["budgets", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_shows_each_budget_and_scope_exactly(app, capsys):
    url, module = app
    code, out, err = run(capsys, "--db", url, "--budgets", f"{module}:BUDGETS",
                         "--tz", "Europe/Berlin", "--at", AT, "--top", "2")  # fmt: skip
    assert (code, err) == (0, "")
    assert (
        out
        == """\
llmledger budgets at 2026-11-10 11:00 UTC (periods in Europe/Berlin)

month budget $500.00, whole app, notify at 100%, unpriced: ignore
  2026-11-01 00:00 .. 2026-12-01 00:00, 31.7% elapsed
    scope          spent    limit   share  projected  unpriced
    total          $1.27  $500.00    0.3%      $3.99         1

day budget $1.00, per tenant, block, unpriced: block
  2026-11-10 00:00 .. 2026-11-11 00:00, 50.0% elapsed
    scope          spent    limit   share  projected  unpriced
    tenant=acme    $0.50    $1.00   50.0%      $1.00         1
    tenant=globex  $0.25    $1.00   25.0%      $0.50         0
    ... 1 more (tenant): $0.02 spent, 0 unpriced calls

week budget $0.60, on openai/gpt-4o, notify at 100%, unpriced: ignore
  2026-11-09 00:00 .. 2026-11-16 00:00, 21.4% elapsed
    scope          spent    limit   share  projected  unpriced
    total          $1.00    $0.60  166.7%      $4.67         0

call budget $2.00, whole app, raise, unpriced: ignore
  no period total: each call's cost is checked against the limit when
  the call is recorded

day budget $5.00, per user, notify at 100%, unpriced: ignore
  no spend this period by any user

unpriced: calls no price covers, their cost unknown and not in spent. A budget with
  unpriced: ignore counts them as $0; one with unpriced: block also refuses a request
  to a model no price covers before it is sent. A price override, then `llmledger
  reaggregate`, backfills their cost into the totals.
"""
    )


def test_json_carries_the_exact_figures(app, capsys, monkeypatch):
    url, module = app
    monkeypatch.setenv("LLMLEDGER_BUDGETS", f"{module}:LLM.budgets")
    code, out, err = run(capsys, "--db", url, "--tz", "Europe/Berlin", "--at", AT, "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["at"], data["tz"]) == ("2026-11-10T12:00:00+01:00", "Europe/Berlin")
    rows = [
        (s["budget"]["period"], s["scope"], s["period_start"], s["period_end"], s["spent"],
         s["limit"], s["share"], s["projected"], s["unpriced_calls"])
        for s in data["statuses"]
    ]  # fmt: skip
    whole = {"tags": {}, "provider": None, "model": None}
    day = ("2026-11-10T00:00:00+01:00", "2026-11-11T00:00:00+01:00")
    assert rows == [
        # 1.265 * 60/19 = 3.99473684210526..., rounded down to the pico-USD
        ("month", whole, "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00",
         "1.265", "500", "0.00253", "3.994736842105", 1),
        ("day", {**whole, "tags": {"tenant": "acme"}}, *day, "0.5", "1", "0.5", "1", 1),
        ("day", {**whole, "tags": {"tenant": "globex"}}, *day, "0.25", "1", "0.25", "0.5", 0),
        ("day", {**whole, "tags": {"tenant": "initech"}}, *day, "0.015", "1", "0.015", "0.03", 0),
        # gpt-4o under its three names this week (0.25 each), gpt-4o-mini apart; x14/3
        ("week", {"tags": {}, "provider": "openai", "model": "gpt-4o"},
         "2026-11-09T00:00:00+01:00", "2026-11-16T00:00:00+01:00",
         "1", "0.6", "1.666666666666666666666666667", "4.666666666666", 0),
    ]  # fmt: skip
    assert data["call_budgets"] == [
        {"period": "call", "usd": "2", "per": None, "where": {}, "provider": None,
         "model": None, "action": "raise", "notify_at": ["1"], "unpriced": "ignore"}
    ]  # fmt: skip


def test_budget_status_is_what_the_command_prints(app):
    url, _ = app
    namespace: dict = {}
    exec(MODULE, namespace)
    budgets = namespace["BUDGETS"]
    at = dt.datetime.fromisoformat(AT)
    statuses = llmledger.budget_status(url, budgets, tz="Europe/Berlin", at=at)
    assert [(s.budget, dict(s.scope.tags), str(s.spent)) for s in statuses[:2]] == [
        (budgets[0], {}, "1.265000000000"),
        (budgets[1], {"tenant": "acme"}, "0.500000000000"),
    ]
    assert statuses[1].period_start == dt.datetime(2026, 11, 10, tzinfo=BERLIN)
    assert statuses[1].period_start.tzinfo == BERLIN
    # The next day: nothing spent yet, and the month goes on.
    later = llmledger.budget_status(url, budgets, tz="Europe/Berlin", at=at + dt.timedelta(1))
    assert [(s.budget.period, str(s.spent), s.unpriced_calls) for s in later] == [
        ("month", "1.265000000000", 1),
        ("week", "1.000000000000", 0),
    ]


def test_totals_kept_in_another_zone_are_refused_with_the_zone_to_ask_for(app, capsys):
    url, module = app
    code, out, err = run(capsys, "--db", url, "--budgets", f"{module}:BUDGETS", "--at", AT)
    assert (code, out) == (1, "")
    assert err == (
        "llmledger budgets: the spend totals are kept in time zone Europe/Berlin, not UTC: ask "
        "for Europe/Berlin (--tz Europe/Berlin), or configure the app with budget_tz='UTC'\n"
    )
    other = f"{module}:BUDGETS[:1]"  # not an attribute name: refused as not found
    assert run(capsys, "--db", url, "--budgets", other)[0] == 2


def test_budgets_the_app_does_not_keep_are_refused(app, capsys, tmp_path):
    url, _ = app
    (tmp_path / "others.py").write_text(
        "import llmledger\nBUDGETS = [llmledger.Budget('week', usd=1, per='feature')]\n"
    )
    code, out, err = run(capsys, "--db", url, "--budgets", "others:BUDGETS", "--tz",
                         "Europe/Berlin")  # fmt: skip
    assert (code, out) == (1, "")
    assert err == (
        "llmledger budgets: the spend totals this database keeps do not cover the tag keys "
        "feature: the app writing it configures other budgets than these (its writer rebuilds "
        "the totals for the budgets it is configured with)\n"
    )
    sys.modules.pop("others", None)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nosuchmodule_x:BUDGETS", "no module named 'nosuchmodule_x' (looked in the working "
         "directory and the installed packages)"),
        ("{module}:MISSING", "{module}:MISSING: 'MISSING' not found in {module}"),
        ("{module}:SETTINGS", "{module}:SETTINGS is a dict, not a list of llmledger.Budget "
         "(the list given to configure(budgets=...))"),
        ("{module}", "'{module}' is not module:attribute (e.g. myapp.settings:BUDGETS)"),
    ],
)  # fmt: skip
def test_a_wrong_budgets_source_is_named(source, message, tmp_path, monkeypatch, capsys):
    module = f"settings_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    source, message = source.format(module=module), message.format(module=module)
    code, out, err = run(capsys, "--budgets", source)
    assert (code, out, err) == (2, "", f"llmledger budgets: {message}\n")
    sys.modules.pop(module, None)


def test_without_a_budgets_source_it_says_how_to_name_one(capsys, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_BUDGETS", raising=False)
    assert run(capsys) == (
        2,
        "",
        "llmledger budgets: which budgets? Name the list the app configures: --budgets "
        "module:attribute, or LLMLEDGER_BUDGETS=module:attribute\n",
    )


def test_help_says_where_budgets_come_from_and_how_unpriced_calls_count(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["budgets", "--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--budgets MODULE:ATTRIBUTE the app's list of llmledger.Budget" in text
    assert "(default: $LLMLEDGER_BUDGETS)" in text
    assert '"call" budgets have no period total' in text
    assert 'budgets count them as their `unpriced` policy says ("ignore": $0;' in text
    assert "llmledger budgets --db ledger.db --budgets myapp.settings:BUDGETS" in text
