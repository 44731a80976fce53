"""`llmledger.calls()` and `llmledger.rollup()` as a user calls them: a misspelt tag is said,
a window running backwards is an error."""

import pytest

import llmledger


def test_a_misspelt_tag_is_said_not_answered_with_nothing(ledger):
    with llmledger.tags(feature="chat", tenant="acme"):
        llmledger.track("openai", "gpt-4o", input_tokens=1000, output_tokens=100)
    llmledger.track("openai", "gpt-4o", input_tokens=10, tags={"user_id": "u1"})
    typo = (
        r"^no call in the window has the tag '{}' \(did you mean '{}'\?\); "
        r"the tags there are feature, tenant, user_id$"
    )
    with pytest.warns(llmledger.UnknownTagWarning, match=typo.format("tennant", "tenant")) as said:
        assert llmledger.calls(tennant="acme").height == 0
    # The warning points at the line that asked, not inside the package.
    assert [w.filename for w in said] == [__file__]
    assert llmledger.calls(tenant="acme")["input_tokens"].to_list() == [1000]
    engine = llmledger.config.state().engine
    with pytest.warns(llmledger.UnknownTagWarning, match=typo.format("featur", "feature")):
        grouped = llmledger.rollup(engine, by=["featur"])
    assert grouped.select("featur", "calls").rows() == [(None, 2)]


def test_a_window_running_backwards_is_an_error(ledger):
    llmledger.track("openai", "gpt-4o", input_tokens=1000)
    message = r"^since \(2026-12-02\) must be before until \(2026-12-01\)$"
    with pytest.raises(ValueError, match=message):
        llmledger.calls(since="2026-12-02", until="2026-12-01")
    engine = llmledger.config.state().engine
    with pytest.raises(ValueError, match=message):
        llmledger.rollup(engine, since="2026-12-02", until="2026-12-01")
    with pytest.raises(ValueError, match=message):
        llmledger.reprice(engine, since="2026-12-02", until="2026-12-01")
