"""What `track()` and `quote()` accept: each limit, exactly at and just past it."""

import datetime as dt
import math
from decimal import Decimal

import pytest

import llmledger
from llmledger.config import state
from llmledger.pricing import build_pricer
from llmledger.record.limits import MAX_LATENCY_MS, MAX_TOKENS_PER_BUCKET
from llmledger.store.schema import BUCKETS

AT = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def stored(call):
    """The stored row of `call`, read back through the public API."""
    (row,) = llmledger.calls(event_id=call.event_id).to_dicts()
    return row


def test_a_bucket_holds_up_to_the_maximum_exactly(ledger):
    assert MAX_TOKENS_PER_BUCKET == 1_000_000_000
    call = llmledger.track("openai", "gpt-4o", output_tokens=MAX_TOKENS_PER_BUCKET, at=AT)
    # 10^9 tokens x 10 USD per million.
    assert call.cost == Decimal("10000")
    row = stored(call)
    assert row["output_tokens"] == MAX_TOKENS_PER_BUCKET
    assert row["cost"] == Decimal("10000")


@pytest.mark.parametrize("value", [MAX_TOKENS_PER_BUCKET + 1, 2**63, 2**64 + 5])
@pytest.mark.parametrize("entry", [llmledger.track, llmledger.quote])
def test_a_bucket_over_the_maximum_raises_naming_it(ledger, entry, value):
    with pytest.raises(ValueError, match=r"^reasoning_tokens is [\d,]+; a bucket holds at most"):
        entry("openai", "gpt-4o", reasoning_tokens=value)
    assert llmledger.calls().height == 0


def test_every_catalog_rate_prices_full_buckets_within_the_cost_column():
    """The maximum is chosen so that no priced call can overflow the 64-bit pico-USD cost:
    eight full buckets at the dearest per-token rate of any model, version, variant or tier,
    plus the dearest per-request fee."""
    spec = build_pricer().spec
    token_rates, request_fees = [0], [0]
    for model in spec["models"]:
        for rates in [v["rates"] for v in model["versions"] + model["variants"]]:
            for key, rate in rates.items():
                prices = [rate["base"], *(price for _, price in rate["tiers"])]
                (request_fees if key == "requests_kcount" else token_rates).extend(prices)
    worst = len(BUCKETS) * MAX_TOKENS_PER_BUCKET * max(token_rates) + max(request_fees)
    assert max(token_rates) == 600_000_000  # o1-pro's output: 600 USD per million tokens
    assert worst < 2**63


def test_the_dearest_call_the_bounds_allow_is_priced_exactly(ledger):
    full = dict.fromkeys(BUCKETS, MAX_TOKENS_PER_BUCKET)
    quote = llmledger.quote("openai", "o1-pro", at=AT, **full)
    # Input-side buckets at 150 USD per million (o1-pro has no cache or audio rates), output
    # and reasoning and output audio at 600.
    assert quote.cost == Decimal(5 * 150_000 + 3 * 600_000)
    assert stored(llmledger.track("openai", "o1-pro", at=AT, **full))["cost"] == quote.cost


@pytest.mark.parametrize(
    ("field", "limit"),
    [("provider", 64), ("model", 255), ("provider_response_id", 255), ("pricing_mode", 32)],
)
def test_text_fields_hold_their_column_size_and_no_more(ledger, field, limit):
    args = {"provider": "openai", "model": "gpt-4o", "at": AT}
    longest = "m" * limit
    call = llmledger.track(**{**args, field: longest})
    assert stored(call)[field] == longest
    with pytest.raises(ValueError, match=rf"^{field} is {limit + 1} characters long"):
        llmledger.track(**{**args, field: longest + "m"})
    assert llmledger.calls().height == 1


@pytest.mark.parametrize("field", ["provider", "model", "provider_response_id", "pricing_mode"])
@pytest.mark.parametrize("bad", ["", "a\x00b", "report-\udcff.pdf", "\ud83d"])
def test_text_fields_refuse_empty_nul_and_lone_surrogates(ledger, field, bad):
    args = {"provider": "openai", "model": "gpt-4o", field: bad}
    with pytest.raises(ValueError, match=rf"^{field} (must not be empty|holds a NUL)"):
        llmledger.track(**args)
    assert llmledger.calls().height == 0


def test_text_fields_must_be_strings(ledger):
    with pytest.raises(TypeError, match=r"^provider must be a string, got int"):
        llmledger.track(1, "gpt-4o")
    with pytest.raises(TypeError, match=r"^model must be a string, got NoneType"):
        llmledger.quote("openai", None)
    with pytest.raises(TypeError, match=r"^pricing_mode must be a string, got int"):
        llmledger.track("openai", "gpt-4o", pricing_mode=2)


def test_the_provider_is_checked_as_stored(ledger):
    """Stored lower-cased and stripped: blanks are empty, and padding does not count."""
    with pytest.raises(ValueError, match=r"^provider must not be empty"):
        llmledger.track("   ", "gpt-4o")
    call = llmledger.track("  Acme" + "x" * 60 + "  ", "m", at=AT)
    assert stored(call)["provider"] == call.provider == "acme" + "x" * 60
    # A non-BMP character is one character in every database, as in Python.
    emoji = llmledger.track("\N{ROBOT FACE}" * 64, "\N{ROBOT FACE}" * 255, at=AT)
    assert (stored(emoji)["provider"], stored(emoji)["model"]) == (
        "\N{ROBOT FACE}" * 64,
        "\N{ROBOT FACE}" * 255,
    )


def test_at_starts_at_the_epoch_and_ids_stay_well_formed(ledger):
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    first = llmledger.track("openai", "gpt-4o", at=epoch)
    last = llmledger.track("openai", "gpt-4o", at=dt.datetime.max)  # naive: UTC
    assert first.event_id.startswith("000000000000") and len(first.event_id) == 32
    assert last.event_id.startswith(f"{253402300799999:012x}") and len(last.event_id) == 32
    assert [r["at"] for r in llmledger.calls().to_dicts()] == [
        epoch,
        dt.datetime.max.replace(tzinfo=dt.UTC),
    ]


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(1, 1, 1),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        # 00:30 at UTC+1 is 23:30 the day before, in UTC.
        dt.datetime(1970, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        # Past the year 9999 once converted to UTC.
        dt.datetime.max.replace(tzinfo=dt.timezone(-dt.timedelta(hours=1))),
    ],
)
@pytest.mark.parametrize("entry", [llmledger.track, llmledger.quote])
def test_at_outside_the_range_raises_naming_it(ledger, entry, at):
    with pytest.raises(ValueError, match=r"^at must be from 1970-01-01 UTC on"):
        entry("openai", "gpt-4o", at=at)
    assert llmledger.calls().height == 0


@pytest.mark.parametrize("latency", [0, 0.0, 812.5, 5, MAX_LATENCY_MS, int(MAX_LATENCY_MS)])
def test_a_latency_is_stored_as_a_float(ledger, latency):
    call = llmledger.track("openai", "gpt-4o", latency_ms=latency)
    assert call.latency_ms == float(latency) and type(call.latency_ms) is float
    assert stored(call)["latency_ms"] == float(latency)


@pytest.mark.parametrize(
    ("latency", "error"),
    [
        ("812", TypeError),
        (True, TypeError),
        (Decimal("1.5"), TypeError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (-math.inf, ValueError),
        (-0.001, ValueError),
        (MAX_LATENCY_MS * 1.000001, ValueError),
        (2**1100, ValueError),
    ],
)
def test_a_bad_latency_raises_and_the_ledger_stays_readable(ledger, latency, error):
    llmledger.track("openai", "gpt-4o", latency_ms=1.0)
    with pytest.raises(error, match=r"^latency_ms must be"):
        llmledger.track("openai", "gpt-4o", latency_ms=latency)
    assert llmledger.calls()["latency_ms"].to_list() == [1.0]
    assert llmledger.rollup(state().engine, by=["provider"])["calls"].to_list() == [1]
