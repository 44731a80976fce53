"""The spend report's figures and text, from calls recorded through `track()`."""

import datetime as dt
import re
from decimal import Decimal

import llmledger
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
