import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import llmledger

AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_tokens", -1),
        ("output_tokens", 1.5),
        ("reasoning_tokens", "10"),
        ("cache_read_tokens", True),
    ],
)
def test_bad_token_counts_raise_naming_the_field(ledger, field, value):
    with pytest.raises(ValueError, match=field):
        llmledger.track("openai", "gpt-4o", **{field: value})


def test_unknown_bucket_and_bad_arguments(ledger):
    with pytest.raises(TypeError, match="prompt_tokens"):
        llmledger.track("openai", "gpt-4o", prompt_tokens=3)
    with pytest.raises(ValueError, match="model"):
        llmledger.track("openai", "")
    with pytest.raises(TypeError, match="at must be a datetime"):
        llmledger.track("openai", "gpt-4o", at="2026-01-01")
    assert llmledger.calls().height == 0


def test_track_returns_before_the_write_and_flush_writes_everything(ledger):
    calls = [llmledger.track("openai", "gpt-4o", input_tokens=i, at=AT) for i in range(1, 1001)]
    assert llmledger.flush()
    frame = llmledger.calls()
    assert frame.height == 1000
    assert frame["event_id"].to_list() == [c.event_id for c in calls]
    assert frame["cost"].sum() == sum(c.cost for c in calls)


def test_recorded_row_keeps_the_vocabulary(ledger):
    with llmledger.tags(feature="chat", tenant="acme"):
        call = llmledger.track(
            "anthropic",
            "claude-sonnet-4-5",
            input_tokens=10,
            cache_read_tokens=20,
            cache_write_tokens=30,
            cache_write_1h_tokens=40,
            output_tokens=50,
            at=AT,
            latency_ms=812.5,
            provider_response_id="msg_01XFDUDYJgAACzvnptvVoYEL",
        )
    row = llmledger.calls().row(0, named=True)
    assert row["at"] == AT
    assert (row["provider"], row["model"]) == ("anthropic", "claude-sonnet-4-5")
    assert [row[b] for b in llmledger.BUCKETS] == [10, 20, 30, 40, 50, 0, 0, 0]
    # (10 x 3 + 20 x 0.30 + 30 x 3.75 + 40 x 6 + 50 x 15) USD per MTok = 1138.5 USD per MTok.
    assert row["cost"] == call.cost == Decimal("0.0011385")
    assert row["usage_source"] == "manual"
    assert row["pricing_mode"] == "standard"
    assert row["latency_ms"] == 812.5
    assert row["provider_response_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert row["event_id"] == call.event_id
    assert row["price_snapshot_id"] == call.price_rule.snapshot_id
    assert row["price_model"] == "claude-sonnet-4-5"
    assert row["tags"] == {"feature": "chat", "tenant": "acme"}


def test_calls_filters_by_time_and_tags(ledger):
    for day, tenant in [(1, "acme"), (2, "acme"), (3, "globex")]:
        llmledger.track(
            "openai", "gpt-4o", input_tokens=day, at=AT.replace(day=day), tags={"tenant": tenant}
        )
    assert llmledger.calls(since="2026-11-02")["input_tokens"].to_list() == [2, 3]
    assert llmledger.calls(until=AT.replace(day=2))["input_tokens"].to_list() == [1]
    assert llmledger.calls(tenant="acme")["input_tokens"].to_list() == [1, 2]
    assert isinstance(llmledger.calls()["cost"].dtype, pl.Decimal)
