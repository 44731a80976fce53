"""Tag keys are names, never patterns: `*`, `^x$` and `a.*` are Polars' wildcard and regular
expression forms of a column name; as tag keys they name their own tag and nothing else."""

from __future__ import annotations

from decimal import Decimal

import polars.selectors as cs
import pytest

import llmledger
from llmledger.analytics import source, sql
from llmledger.config import state
from llmledger.report.summary import summarize

# "x" and "ab" are what `^x$` and `a.*` would match as patterns.
FIRST = {"*": "star", "^x$": "anchored", "a.*": "dotted", "tenant": "acme", "x": "ex", "ab": "bee"}
SECOND = {"*": "star", "tenant": "umbrella"}
KEYS = ["*", "^x$", "a.*", "tenant"]


def _record() -> None:
    # 1000 * 2.50 + 100 * 10.00 USD per million tokens: 3,500,000,000 pico-USD each.
    llmledger.track("openai", "gpt-4o", input_tokens=1000, output_tokens=100, tags=FIRST)
    for _ in range(2):
        llmledger.track("openai", "gpt-4o", input_tokens=1000, output_tokens=100, tags=SECOND)
    assert llmledger.flush()


def _expected_rollup(source: object) -> None:
    result = llmledger.rollup(source, by=KEYS).sort("tenant")
    assert result.columns[:4] == KEYS
    assert result["calls"].to_list() == [1, 2]
    assert result.rows()[0][:4] == ("star", "anchored", "dotted", "acme")
    assert result.rows()[1][:4] == ("star", None, None, "umbrella")
    assert result["cost"].to_list() == [Decimal("0.0035"), Decimal("0.0070")]


def test_calls_keep_every_key_by_its_own_name(any_ledger) -> None:
    _record()
    frame = llmledger.calls()
    empty = dict.fromkeys(FIRST)
    assert frame["tags"].to_list() == [
        {**empty, **FIRST},
        {**empty, **SECOND},
        {**empty, **SECOND},
    ]
    # Filters by each key, literally.
    assert llmledger.calls(**{"^x$": "anchored"}).height == 1
    assert llmledger.calls(**{"a.*": "dotted"}).height == 1
    assert llmledger.calls(**{"*": "star"}).height == 3
    assert llmledger.calls(**{"^x$": None}).height == 2


def test_rollup_by_keys_that_look_like_patterns(any_ledger) -> None:
    _record()
    _expected_rollup(state().engine)  # in SQL
    _expected_rollup(llmledger.calls())  # in memory


@pytest.mark.parametrize("key", ["*", "^x$", "a.*"])
def test_a_pattern_like_key_alone(any_ledger, key: str) -> None:
    _record()
    for ledger in (state().engine, llmledger.calls()):
        result = llmledger.rollup(ledger, by=[key], where={"tenant": "acme"})
        assert result.columns[0] == key
        assert result["calls"].to_list() == [1]
        assert result.row(0)[0] == FIRST[key]


def test_rollup_in_parts_by_keys_that_look_like_patterns(any_ledger, monkeypatch) -> None:
    # One row per batch and per part: the parts' results are merged by these keys.
    monkeypatch.setattr(source, "BATCH_ROWS", 1)
    monkeypatch.setattr(sql, "PART_ROWS", 1)
    _record()
    _expected_rollup(state().engine)


def test_report_by_keys_that_look_like_patterns(any_ledger) -> None:
    _record()
    summary = summarize(llmledger.calls(), by=KEYS)
    assert summary.calls == 3
    top = {k: f.select(cs.by_name(k, "calls")).rows() for k, f in summary.by_tag.items()}
    assert top == {
        "*": [("star", 3)],
        "^x$": [("(untagged)", 2), ("anchored", 1)],
        "a.*": [("(untagged)", 2), ("dotted", 1)],
        "tenant": [("umbrella", 2), ("acme", 1)],
    }
