"""The rule that drops a library's report of a call an instrumented client recorded: a
request sent in the context where the library's call is open marks that call."""

from __future__ import annotations

import contextvars
from typing import Any

from integration_cases import tokens

import llmledger
from llmledger.capture import seen
from llmledger.integrations._reported import record


def in_fresh_context(fn: Any) -> Any:
    return contextvars.Context().run(fn)


def test_a_request_in_the_open_calls_context_marks_it_and_its_outer_calls() -> None:
    def run() -> tuple[bool, bool]:
        span = seen.begin()
        chat = seen.begin()  # a LangChain call inside a span
        seen.request_sent()
        return seen.end(chat), seen.end(span)

    assert in_fresh_context(run) == (False, False)


def test_a_call_without_a_request_is_the_librarys_to_record() -> None:
    def run() -> tuple[bool, bool]:
        first = seen.begin()
        recorded_first = seen.end(first)
        seen.request_sent()  # after the call ended: a direct call of the app's
        second = seen.begin()
        return recorded_first, seen.end(second)

    assert in_fresh_context(run) == (True, True)


def test_a_request_in_another_context_does_not_mark_the_call() -> None:
    def run() -> bool:
        call = seen.begin()
        contextvars.Context().run(seen.request_sent)  # another thread's or task's request
        return seen.end(call)

    assert in_fresh_context(run) is True


def test_calls_never_ended_do_not_pile_up() -> None:
    def run() -> int:
        for _ in range(1000):  # streams abandoned by the app: never reported ended
            last = seen.begin()
        return last.depth

    assert in_fresh_context(run) <= seen.MAX_NESTING


def test_nothing_reported_is_recorded_while_recording_is_off(tmp_path: Any) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", enabled=False)
    try:
        record("openai", "gpt-4o-mini", tuple(tokens(input_tokens=10).values()), usable=True,
               usage_source="otel", at_us=0, latency_ms=None, tags={}, response_id=None,
               raw_usage=None)  # fmt: skip
        assert llmledger.flush()
        assert len(llmledger.calls()) == 0
    finally:
        llmledger.shutdown()
