"""The pricer agrees with genai-prices' own `calc_price` across the whole catalog.

Every model of every provider is priced at random times (2023-2027, so dated versions and
time-of-day windows are crossed), in every mode, with random usage in all eight buckets.
Agreement is exact to the pico-USD, except for the few catalog rates that carry binary-float
noise (`0.0833333...`): those are rounded to the pico-USD per token when compiled, so the
difference is bounded by half a pico-USD per token.
"""

import datetime as dt
import random
import warnings
from decimal import Decimal

import pytest
from genai_prices import Usage
from genai_prices import data as gp_data
from genai_prices.data_snapshot import get_snapshot

from llmledger.pricing import build_pricer, from_pico
from llmledger.pricing.pricer import Resolution

MODES = {
    "standard": None,
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}


def genai_usage(b):
    """Our disjoint buckets as genai-prices' nested usage (totals include their parts)."""
    return Usage(
        input_tokens=b[0] + b[1] + b[2] + b[3] + b[6],
        cache_read_tokens=b[1],
        cache_write_tokens=b[2] + b[3],
        cache_write_5m_tokens=b[2],
        cache_write_1h_tokens=b[3],
        output_tokens=b[4] + b[5] + b[7],
        output_reasoning_tokens=b[5],
        input_audio_tokens=b[6],
        output_audio_tokens=b[7],
    )


@pytest.fixture(scope="module")
def pricer():
    return build_pricer()


def test_costs_agree_with_calc_price(pricer):
    rng = random.Random(20261127)
    checked = 0
    for provider in gp_data.providers:
        first, _ = pricer._providers[provider.id]["models"]
        for offset, model in enumerate(provider.models):
            resolution = Resolution(first + offset, True, None, None, 0)
            for _ in range(4):
                b = tuple(rng.choice([0, rng.randint(1, 400_000)]) for _ in range(8))
                at = dt.datetime(2023, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                    microseconds=rng.randint(0, 5 * 365 * 86400 * 10**6)
                )
                mode = rng.choice(list(MODES))
                with warnings.catch_warnings():
                    # genai-prices warns about price keys of units we have no bucket for.
                    warnings.simplefilter("ignore")
                    try:
                        expected = model.calc_price(
                            genai_usage(b),
                            provider,
                            genai_request_timestamp=at,
                            price_context=MODES[mode],
                        ).total_price
                    except ValueError:
                        continue  # genai-prices rejects this usage shape for this model's units
                ts_us = (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
                    microseconds=1
                )
                got = from_pico(pricer.price(resolution, ts_us, mode, b).total)
                bound = Decimal(sum(b) + 1) * Decimal("0.5e-12")
                assert abs(got - expected) <= bound, (provider.id, model.id, mode, at, b)
                if got != expected.quantize(Decimal("1e-12")):
                    assert pricer.spec["rounded_rates"] > 0
                checked += 1
    assert checked > 8000


def test_names_resolve_to_the_same_model(pricer):
    snapshot = get_snapshot()
    checked = 0
    for provider in gp_data.providers:
        for model in provider.models:
            clauses = getattr(model.match, "or_", [model.match])
            for clause in clauses:
                name = getattr(clause, "equals", None)
                if name is None:
                    continue
                _, expected = snapshot.find_provider_model(name, None, provider.id, None)
                resolution = pricer.resolve(provider.id, name)
                assert pricer.spec["models"][resolution.index]["id"] == expected.id, (
                    provider.id,
                    name,
                )
                checked += 1
    # Compact dated refs, as LiteLLM and OpenRouter send them.
    resolution = pricer.resolve("openai", "gpt-4o-20240806")
    assert pricer.spec["models"][resolution.index]["id"] == "gpt-4o"
    assert checked > 2000


def test_catalog_rates_are_exact_integers(pricer):
    # Only the float-noise entries needed rounding.
    assert pricer.spec["rounded_rates"] < 40
