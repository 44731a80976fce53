"""Property tests of the money path: the Rust pricer against an independent Decimal reference.

Random catalogs (rates on random subsets of price keys, threshold tiers, dated versions,
mode variants, daily windows), random usage, random times and modes: the core's integer
pico-USD costs equal a plain-Decimal re-derivation of genai-prices' rules, bucket by bucket,
and always sum to the total.
"""

import json
from decimal import ROUND_HALF_EVEN, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger._core import Catalog
from llmledger.pricing import from_pico, to_pico

DAY_US = 86_400_000_000
KEYS = [
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_5m_mtok",
    "cache_write_1h_mtok",
    "output_reasoning_mtok",
    "input_audio_mtok",
    "output_audio_mtok",
    "requests_kcount",
]
CHAINS = [
    ["input_mtok"],
    ["cache_read_mtok", "input_mtok"],
    ["cache_write_5m_mtok", "cache_write_mtok", "input_mtok"],
    ["cache_write_1h_mtok", "cache_write_mtok", "input_mtok"],
    ["output_mtok"],
    ["output_reasoning_mtok", "output_mtok"],
    ["input_audio_mtok", "input_mtok"],
    ["output_audio_mtok", "output_mtok"],
]

rate = st.integers(0, 100_000_000)  # up to $100 per MTok, in pico-USD per token
tiered = st.builds(
    lambda base, tiers: {"base": base, "tiers": sorted(tiers)},
    rate,
    st.lists(st.tuples(st.integers(0, 400_000), rate), max_size=2, unique_by=lambda t: t[0]),
)
rates = st.dictionaries(st.sampled_from(KEYS), tiered, max_size=6)
when = st.one_of(
    st.none(),
    st.builds(lambda d: {"from_day": d}, st.integers(20_000, 20_100)),
    st.builds(lambda a, b: {"daily": [a, b]}, st.integers(0, 86_399), st.integers(0, 86_399)),
)
model = st.builds(
    lambda versions, variants: {"versions": versions, "variants": variants},
    st.lists(st.builds(lambda w, r: {"when": w, "rates": r}, when, rates), min_size=1, max_size=4),
    st.lists(
        st.builds(
            lambda m, w, r: {"mode": m, "when": w, "rates": r}, st.integers(0, 1), when, rates
        ),
        max_size=3,
    ),
)
tokens = st.tuples(*[st.integers(0, 300_000)] * 8)


def active(w, ts_us):
    if w is None:
        return True
    if "from_day" in w:
        return ts_us // DAY_US >= w["from_day"]
    start, end = (s * 1_000_000 for s in w["daily"])
    now = ts_us % DAY_US
    return (now >= start or now < end) if end < start else start <= now < end


def reference(m, ts_us, mode, toks, discount_ppm):
    """genai-prices' rules, restated with Decimal arithmetic."""
    version = max((i for i, v in enumerate(m["versions"]) if active(v["when"], ts_us)), default=0)
    prices = dict(m["versions"][version]["rates"])
    replaced = {}
    if mode is not None:
        for variant in m["variants"]:
            if variant["mode"] == mode and active(variant["when"], ts_us):
                for key, r in variant["rates"].items():
                    replaced.setdefault(key, r)
    prices.update(replaced)
    total_input = toks[0] + toks[1] + toks[2] + toks[3] + toks[6]

    def pick(r):
        applicable = r["base"]
        for start, tier_rate in r["tiers"]:
            if total_input > start:
                applicable = tier_rate
        return applicable

    keep = Decimal(1_000_000 - discount_ppm) / 1_000_000
    costs = []
    for bucket, chain in enumerate(CHAINS):
        key = next((k for k in chain if k in prices), None)
        raw = Decimal(toks[bucket] * pick(prices[key])) if key else Decimal(0)
        costs.append(int((raw * keep).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)))
    fee = 0
    if "requests_kcount" in prices:
        raw = Decimal(pick(prices["requests_kcount"]))
        fee = int((raw * keep).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return costs, fee


@settings(max_examples=400, deadline=None)
@given(
    model,
    st.integers(20_000 * DAY_US, 20_100 * DAY_US),
    st.sampled_from([None, 0, 1]),
    tokens,
    st.sampled_from([0, 125_000, 333_333, 1_000_000]),
)
def test_core_matches_the_decimal_reference(m, ts_us, mode, toks, discount_ppm):
    catalog = Catalog(json.dumps({"modes": ["batch", "flex"], "models": [m]}))
    costs, fee, total, _, _, _ = catalog.price(0, ts_us, mode, toks, discount_ppm)
    assert (list(costs), fee) == reference(m, ts_us, mode, toks, discount_ppm)
    assert total == sum(costs) + fee


@given(st.integers(0, 2**63 - 1))
def test_pico_usd_round_trips_exactly(pico):
    usd = from_pico(pico)
    assert to_pico(usd) == pico
    assert to_pico(str(usd)) == pico


@given(st.lists(st.integers(0, 10**15), max_size=50))
def test_decimal_sums_are_exact(picos):
    assert sum((from_pico(p) for p in picos), Decimal(0)) == from_pico(sum(picos))
