"""Names the catalog does not know: recorded, never refused, and said once in the log."""

import datetime as dt
import logging

import pytest

import llmledger
from llmledger.record import notices

AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


@pytest.fixture
def log(ledger, caplog, monkeypatch):
    """The `llmledger` log from INFO, with every name unheard of in this process."""
    for said in ("_modes_said", "_providers_said", "_unpriced_said"):
        monkeypatch.setattr(notices, said, set())
    caplog.set_level(logging.INFO, logger="llmledger")
    return caplog


def lines(caplog, level):
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_a_misspelt_mode_is_priced_standard_and_warned_once(log):
    standard = llmledger.track("openai", "gpt-4o", input_tokens=1000, at=AT)
    typo = [
        llmledger.track("openai", "gpt-4o", input_tokens=1000, at=AT, pricing_mode="bacth")
        for _ in range(3)
    ]
    assert [c.cost for c in typo] == [standard.cost] * 3
    assert llmledger.quote("openai", "gpt-4o", pricing_mode="bacth").cost is not None
    assert lines(log, logging.WARNING) == [
        "llmledger: unknown pricing mode 'bacth'; did you mean 'batch'? calls in it are "
        "priced at standard rates (known modes: standard, batch, speed=fast, flex, priority, "
        "fast, ultrafast, route=mistral/eu)"
    ]
    assert llmledger.calls(pricing_mode="bacth").height == 3  # recorded as given


def test_a_mode_like_no_other_is_warned_without_a_guess(log):
    llmledger.track("openai", "gpt-4o", pricing_mode="scale")
    assert lines(log, logging.WARNING)[0].startswith(
        "llmledger: unknown pricing mode 'scale'; calls in it are priced at standard rates"
    )


def test_a_misspelt_provider_is_unpriced_and_warned_once(log):
    calls = [llmledger.track("opneai", "gpt-4o", input_tokens=10) for _ in range(2)]
    llmledger.track("OpneAI", "gpt-4o-mini")  # the same stored name, another model
    assert [c.cost for c in calls] == [None, None]
    assert lines(log, logging.WARNING) == [
        "llmledger: unknown provider 'opneai'; did you mean 'openai'? Its calls are recorded "
        "unpriced"
    ]
    assert lines(log, logging.INFO) == [
        "llmledger: no price for opneai/gpt-4o; its calls are recorded unpriced",
        "llmledger: no price for opneai/gpt-4o-mini; its calls are recorded unpriced",
    ]


def test_an_unknown_model_or_own_provider_is_info_not_a_warning(log):
    for _ in range(2):
        llmledger.track("openai", "gpt-4o-typo")
        llmledger.track("vllm", "llama-3-70b")
    assert lines(log, logging.WARNING) == []
    assert lines(log, logging.INFO) == [
        "llmledger: no price for openai/gpt-4o-typo; its calls are recorded unpriced",
        "llmledger: no price for vllm/llama-3-70b; its calls are recorded unpriced",
    ]


def test_known_names_say_nothing(log):
    llmledger.track("OpenAI", "gpt-4o", pricing_mode="batch")
    llmledger.track("gemini", "gemini-2.5-flash", pricing_mode="flex")
    assert log.records == []


def test_a_provider_only_overrides_price_is_known(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(notices, "_providers_said", set())
    monkeypatch.setattr(notices, "_unpriced_said", set())
    overrides = {
        "models": [{"provider": "grok", "model": "house-model", "prices": {"input_mtok": 1}}]
    }
    llmledger.configure(f"sqlite:///{tmp_path / 'l.db'}", price_overrides=overrides)
    try:
        with caplog.at_level(logging.INFO, logger="llmledger"):
            assert llmledger.track("grok", "house-model", input_tokens=10).priced
            assert not llmledger.track("grok", "other-model", input_tokens=10).priced
        assert lines(caplog, logging.WARNING) == []
    finally:
        llmledger.shutdown()
