"""Exact costs worked out by hand from the genai-prices catalog (rates in USD per MTok).

A rate of r USD/MTok is r * 10**6 pico-USD per token; the expected totals below are written as
tokens x rate so each can be checked with a pencil.
"""

import datetime as dt
from decimal import Decimal

import llmledger

AFTER_VARIANTS = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)  # tier tables dated 2026-10-14
M = Decimal(10) ** -6  # one USD-per-MTok rate, per token


def test_plain_call(ledger):
    # gpt-4o: $2.50 input, $10 output.
    call = llmledger.track(
        "openai", "gpt-4o", input_tokens=1000, output_tokens=500, at=AFTER_VARIANTS
    )
    assert call.cost == 1000 * Decimal("2.5") * M + 500 * 10 * M == Decimal("0.0075")
    assert call.cost_breakdown["input_tokens"] == Decimal("0.0025")
    assert call.cost_breakdown["output_tokens"] == Decimal("0.005")
    assert sum(call.cost_breakdown.values()) == call.cost
    rule = call.price_rule
    assert (rule.source, rule.provider, rule.model, rule.version) == (
        "catalog",
        "openai",
        "gpt-4o",
        "default",
    )
    assert (rule.variant, rule.tier, rule.effective_from) == (None, None, None)


def test_cache_read(ledger):
    # gpt-4o cached input: $1.25.
    call = llmledger.track(
        "openai",
        "gpt-4o",
        input_tokens=800,
        cache_read_tokens=200,
        output_tokens=100,
        at=AFTER_VARIANTS,
    )
    assert (
        call.cost == Decimal("0.002") + Decimal("0.00025") + Decimal("0.001") == Decimal("0.00325")
    )


def test_cache_write_both_ttls(ledger):
    # claude-sonnet-4-5: input $3, 5-minute write $3.75, 1-hour write $6, read $0.30, output $15.
    call = llmledger.track(
        "anthropic",
        "claude-sonnet-4-5",
        input_tokens=1000,
        cache_write_tokens=2000,
        cache_write_1h_tokens=1000,
        cache_read_tokens=5000,
        output_tokens=400,
        at=AFTER_VARIANTS,
    )
    b = call.cost_breakdown
    assert b["input_tokens"] == Decimal("0.003")
    assert b["cache_write_tokens"] == Decimal("0.0075")
    assert b["cache_write_1h_tokens"] == Decimal("0.006")
    assert b["cache_read_tokens"] == Decimal("0.0015")
    assert b["output_tokens"] == Decimal("0.006")
    assert call.cost == Decimal("0.024")


def test_reasoning_billed_at_output_rate(ledger):
    # o4-mini: input $1.10, output $4.40; reasoning has no rate of its own.
    call = llmledger.track(
        "openai",
        "o4-mini",
        input_tokens=1000,
        output_tokens=200,
        reasoning_tokens=1800,
        at=AFTER_VARIANTS,
    )
    assert call.cost_breakdown["reasoning_tokens"] == Decimal("0.00792")
    assert (
        call.cost
        == Decimal("0.0011") + Decimal("0.00088") + Decimal("0.00792")
        == Decimal("0.0099")
    )


def test_long_context_tier_prices_the_whole_request(ledger):
    # gemini-2.5-pro: $1.25 / $10 up to 200k input tokens; above, $2.50 / $15 on every token.
    at_threshold = llmledger.quote(
        "google", "gemini-2.5-pro", input_tokens=200_000, output_tokens=1000
    )
    assert at_threshold.cost == Decimal("0.25") + Decimal("0.01")
    assert at_threshold.price_rule.tier is None
    above = llmledger.quote("google", "gemini-2.5-pro", input_tokens=200_001, output_tokens=1000)
    assert above.cost == 200_001 * Decimal("2.5") * M + Decimal("0.015") == Decimal("0.5150025")
    assert above.price_rule.tier == 200_000
    # Cached input counts towards the threshold.
    cached = llmledger.quote(
        "google", "gemini-2.5-pro", input_tokens=150_000, cache_read_tokens=60_000, output_tokens=0
    )
    assert cached.cost == Decimal("0.375") + 60_000 * Decimal("0.25") * M == Decimal("0.39")


def test_batch_and_flex_modes(ledger):
    # gpt-4o batch: $1.25 / $5; the batch table has no cached rate, so cache reads stay $1.25.
    batch = llmledger.track(
        "openai",
        "gpt-4o",
        input_tokens=1000,
        cache_read_tokens=1000,
        output_tokens=500,
        pricing_mode="batch",
        at=AFTER_VARIANTS,
    )
    assert batch.cost == Decimal("0.00125") + Decimal("0.00125") + Decimal("0.0025")
    assert batch.price_rule.variant == "batch"
    # o4-mini flex: $0.55 / $2.20.
    flex = llmledger.track(
        "openai",
        "o4-mini",
        input_tokens=1000,
        output_tokens=1000,
        pricing_mode="flex",
        at=AFTER_VARIANTS,
    )
    assert flex.cost == Decimal("0.00055") + Decimal("0.0022")
    # A mode the model has no variant for is priced at standard rates, and says so.
    scale = llmledger.quote(
        "openai", "gpt-4o", pricing_mode="scale", input_tokens=1000, at=AFTER_VARIANTS
    )
    assert scale.cost == Decimal("0.0025")
    assert scale.price_rule.variant is None


def test_price_in_force_at_the_calls_time(ledger):
    # gemini-4-argon: $2 / $10, doubling to $4 / $20 from 2026-12-01 (UTC).
    before = dt.datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    after = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    old = llmledger.track(
        "google", "gemini-4-argon", input_tokens=1000, output_tokens=1000, at=before
    )
    new = llmledger.track(
        "google", "gemini-4-argon", input_tokens=1000, output_tokens=1000, at=after
    )
    assert (old.cost, new.cost) == (Decimal("0.012"), Decimal("0.024"))
    assert old.price_rule.version == "default"
    assert new.price_rule.version == "from 2026-12-01"
    assert new.price_rule.effective_from == dt.date(2026, 12, 1)
    # A zone-aware time is converted to UTC first: 2026-12-01 00:30 in Paris is still November.
    paris = dt.timezone(dt.timedelta(hours=1))
    local = llmledger.quote(
        "google",
        "gemini-4-argon",
        input_tokens=1000,
        at=dt.datetime(2026, 12, 1, 0, 30, tzinfo=paris),
    )
    assert local.cost == Decimal("0.002")


def test_time_of_day_prices(ledger):
    # deepseek-chat: $0.27 input between 00:30 and 16:30 UTC, $0.135 otherwise.
    day = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)
    night = dt.datetime(2026, 11, 2, 20, tzinfo=dt.UTC)
    assert llmledger.quote("deepseek", "deepseek-chat", input_tokens=10**6, at=day).cost == Decimal(
        "0.27"
    )
    assert llmledger.quote(
        "deepseek", "deepseek-chat", input_tokens=10**6, at=night
    ).cost == Decimal("0.135")


def test_names_resolve_like_the_provider_reports_them(ledger):
    dated = llmledger.quote("openai", "gpt-4o-2024-08-06", input_tokens=1000)
    assert dated.price_rule.model == "gpt-4o"
    gemini = llmledger.track("gemini", "gemini-2.5-flash", input_tokens=1000, at=AFTER_VARIANTS)
    assert gemini.provider == "google"
    assert gemini.cost == Decimal("0.0003")


def test_unknown_model_is_unpriced_not_free(ledger):
    call = llmledger.track("openai", "gpt-from-the-future", input_tokens=1000, output_tokens=10)
    assert call.cost is None and call.cost_breakdown is None and call.price_rule is None
    unknown_provider = llmledger.track("acme-gateway", "house-model", input_tokens=5)
    assert unknown_provider.cost is None
    frame = llmledger.calls()
    assert frame["cost"].to_list() == [None, None]
    assert frame["input_tokens"].to_list() == [1000, 5]
