"""`llmledger.health()`: the counters `llmledger doctor` cannot see from its own process, as
the app's process has them: the writer's, capture's and the call hook's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakeprovider import Reply
from fakeprovider.clients import make_client
from store.ledger_rows import make_row

import llmledger
from llmledger import config
from llmledger.capture import instrument, sink

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(autouse=True)
def no_capture_problems() -> None:
    sink.problems.clear()


def test_health_counts_a_poisoned_row_a_capture_problem_and_a_raising_hook(
    fake: Any, ledger_url: str
) -> None:
    def hook(call: llmledger.Call) -> None:
        raise RuntimeError(f"exporter down for {call.model}")

    llmledger.configure(ledger_url, on_call=hook)
    llmledger.track("openai", "gpt-4o", input_tokens=1200, output_tokens=300)
    # A body the parser cannot read: the app gets the SDK's own error, the call is recorded
    # with estimated usage, and capture counts a "parse" problem.
    fake.serve(Reply(b'{"id": "chatcmpl-x", "choices": [tru'))
    client = instrument(make_client("openai", fake.url), provider="openai")
    with client, pytest.raises(ValueError, match="Expecting value"):  # json's own error
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert llmledger.flush()
    # A row SQLite cannot store (an integer past 64 bits), alone in its batch (so one failed
    # statement): set aside.
    config.state().writer.submit(make_row(7, input_tokens=2**64))
    assert llmledger.flush()

    report = llmledger.health()
    assert report == llmledger.Health(
        enabled=True,
        queued=0,
        writer={
            "written": 2,
            "spooled": 0,
            "replayed": 0,
            "rejected": 1,
            "outages": 0,
            "errors": 1,
            "lost": 0,
        },
        capture_problems={"parse": 1},
        hook_problems={"raised": 2},
    )
    assert report.as_dict()["writer"]["rejected"] == 1
    assert len(llmledger.calls()) == 2


def test_health_before_configure_opens_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    zeros = dict.fromkeys(
        ["written", "spooled", "replayed", "rejected", "outages", "errors", "lost"], 0
    )
    assert llmledger.health() == llmledger.Health(True, 0, zeros, {}, {})
    monkeypatch.setenv("LLMLEDGER_ENABLED", "off")
    llmledger.shutdown()  # forget the switch read above
    assert llmledger.health().enabled is False
    assert list(tmp_path.iterdir()) == []  # no default llmledger.db created


def test_health_while_switched_off(ledger_url: str) -> None:
    llmledger.configure(ledger_url, enabled=False)
    llmledger.track("openai", "gpt-4o", input_tokens=1, output_tokens=1)
    report = llmledger.health()
    assert (report.enabled, report.queued, set(report.writer.values())) == (False, 0, {0})
