"""`notify` budgets: on_budget fires once per share reached, per scope and period, across a
restart and a second process (the crossings are rows in the database), on each database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import llmledger
from llmledger.budgets.check import problems
from llmledger.store import Scope, make_engine, upgrade

MODEL = "gpt-4o-2024-08-06"
QUARTER = {"input_tokens": 100_000}  # 0.25 USD
BUDGET = llmledger.Budget("month", usd=1, per="tenant", notify_at=(0.5, 0.8, 1))
TESTS = Path(__file__).resolve().parents[1]


def spend(n: int, tenant: str = "acme") -> None:
    for _ in range(n):  # one write per call: each crossing is seen at its own call
        llmledger.track("openai", MODEL, tags={"tenant": tenant}, **QUARTER)
        assert llmledger.flush() is True


@pytest.fixture
def ledger(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    yield database_url
    llmledger.shutdown()  # before the database is dropped, or its last rows go to a spool


@pytest.fixture(autouse=True)
def clean():
    llmledger.shutdown()
    problems.clear()
    yield
    llmledger.shutdown()


def in_other_process(url: str, n: int) -> list[tuple[str, str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    out = subprocess.run(
        [sys.executable, "-m", "budgets.notify_process", url, str(n)],
        cwd=TESTS, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return [(e["threshold"], e["spent"]) for e in map(json.loads, out.stdout.splitlines())]


def test_each_share_fires_once_across_a_restart_and_a_second_process(ledger) -> None:
    events: list[llmledger.BudgetEvent] = []
    llmledger.configure(ledger, budgets=[BUDGET], on_budget=events.append)
    spend(1)
    assert events == []
    assert in_other_process(ledger, 1) == [("0.5", "0.500000000000")]
    spend(1)  # 0.75: no share reached here, 0.5 fired over there
    assert events == []
    spend(1, tenant="globex")
    llmledger.configure(ledger, budgets=[BUDGET], on_budget=events.append)  # a restart
    spend(1)  # 1.00 USD: 0.8 and 1 at once
    assert [(e.threshold, e.spent) for e in events] == [
        (Decimal("0.8"), Decimal(1)),
        (Decimal(1), Decimal(1)),
    ]
    event = events[0]
    assert (event.budget, event.scope, event.limit) == (BUDGET, Scope({"tenant": "acme"}), 1)
    assert event.period_start.day == 1 and event.period_start.tzinfo is not None
    assert in_other_process(ledger, 1) == []  # all recorded already
    spend(1)
    assert len(events) == 2
    assert problems == {}


def test_a_call_budget_notifies_per_call(tmp_path) -> None:
    events: list[llmledger.BudgetEvent] = []
    budget = llmledger.Budget("call", usd="0.3")
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[budget], on_budget=events.append)
    spend(1)  # 0.25 USD: under
    big = llmledger.track("openai", MODEL, input_tokens=200_000)  # 0.50
    exact = llmledger.track("openai", MODEL, input_tokens=120_000)  # 0.30: reached
    assert llmledger.flush() is True
    assert [(e.spent, e.limit, e.threshold) for e in events] == [
        (Decimal("0.5"), Decimal("0.3"), 1),
        (Decimal("0.3"), Decimal("0.3"), 1),
    ]
    assert [e.period_start for e in events] == [big.at, exact.at]  # each call its own period


def test_a_callback_that_raises_is_counted_and_recording_goes_on(tmp_path) -> None:
    def broken(event):
        raise RuntimeError("alerting is down")

    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", budgets=[BUDGET], on_budget=broken)
    spend(4)
    assert problems == {"on_budget": 3}
    assert llmledger.calls().height == 4


def test_two_processes_spending_at_once_fire_each_share_once(ledger) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    command = [sys.executable, "-m", "budgets.notify_process", ledger, "4"]
    procs = [
        subprocess.Popen(command, cwd=TESTS, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    fired = sorted(json.loads(line)["threshold"] for out in outputs for line in out.splitlines())
    assert fired == ["0.5", "0.8", "1"]  # 2 USD spent in all: each share once, in one of them


def test_an_outage_spools_calls_without_notify_errors(tmp_path) -> None:
    down = "postgresql+psycopg://llmledger:x@127.0.0.1:9/llmledger"  # nothing listens on 9
    events: list[llmledger.BudgetEvent] = []
    llmledger.configure(down, budgets=[BUDGET], on_budget=events.append,
                        spool_path=tmp_path / "spool.jsonl")  # fmt: skip
    spend(4)
    assert llmledger.config.state().writer.stats()["spooled"] == 4
    assert events == [] and problems == {}
