"""Property tests: on random ledgers and price histories the kernels agree exactly with the
plain-Python reference (`reference.py`), which prices each call with `Pricer.price`."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger import BUCKETS, analytics

from . import reference
from .ledgers import D0, frame, pricer

DAY = reference.DAY_US
RATES = st.sampled_from([0, 1, 999_999, 2_500_000, 15_000_000])


@st.composite
def rates(draw):
    out = {"input_mtok": {"base": draw(RATES)}, "output_mtok": {"base": draw(RATES)}}
    if draw(st.booleans()):
        out["input_mtok"]["tiers"] = [[100, draw(RATES)]]
    if draw(st.booleans()):
        out["cache_read_mtok"] = {"base": draw(RATES)}
    return out


@st.composite
def models(draw):
    out = []
    for i in range(3):
        versions = [{"when": None, "rates": draw(rates())}]
        for day in draw(st.lists(st.sampled_from([D0 - 1, D0, D0 + 1]), max_size=2)):
            versions.append({"when": {"from_day": day}, "rates": draw(rates())})
        variants = []
        if draw(st.booleans()):
            when = draw(st.sampled_from([None, {"from_day": D0}]))
            variants.append(
                {"mode": 0, "when": when, "rates": {"output_mtok": {"base": draw(RATES)}}}
            )
        out.append({"name": f"m{i}", "versions": versions, "variants": variants})
    return out


INSTANTS = st.one_of(
    st.sampled_from([D0 * DAY + d for d in (-DAY, -1, 0, 1, DAY - 1, DAY, 2 * DAY)]),
    st.integers(D0 * DAY - 3 * DAY, D0 * DAY + 3 * DAY),
)
TAG = st.sampled_from(["a", "b", "ümlaut", "客户", "🚀", "a-much-longer-tag-value-than-twelve"])


@st.composite
def rows(draw):
    tags = {}
    for key in ("feature", "tenant"):
        if draw(st.booleans()):
            tags[key] = draw(TAG)
    return {
        "at_us": draw(INSTANTS),
        "provider": draw(st.sampled_from(["p0", "p0", "p0", "nobody"])),
        "model": draw(st.sampled_from(["m0", "m1", "m2", "zz"])),
        "tokens": tuple(draw(st.sampled_from([0, 1, 49, 50, 51, 99, 100, 101])) for _ in BUCKETS),
        "cost": draw(st.one_of(st.none(), st.integers(0, 10**15))),
        "mode": draw(st.sampled_from(["standard", "batch", "flex"])),
        "latency": draw(st.one_of(st.none(), st.integers(0, 10_000).map(lambda n: n / 8))),
        "tags": tags,
    }


KEYS = ["feature", "tenant", "model", "provider", "pricing_mode", "day", "hour", "month"]


def as_key(value):
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=models(),
    ledger=st.lists(rows(), max_size=30),
    by=st.lists(st.sampled_from(KEYS), max_size=3, unique=True),
    tz=st.sampled_from(["UTC", "America/New_York", "+05:30", "Asia/Kolkata"]),
    where=st.one_of(st.none(), st.fixed_dictionaries({"feature": TAG})),
    discount=st.sampled_from([0, 125_000, 333_333]),
    window=st.sampled_from(
        [(None, None), (D0 * DAY, None), (None, D0 * DAY + 1), (D0 * DAY - DAY, D0 * DAY + DAY)]
    ),
)
def test_rollup_matches_the_reference(history, ledger, by, tz, where, discount, window):
    p = pricer(history, discount)
    data = frame(ledger)
    since, until = window
    out = analytics.rollup(
        data,
        by=by,
        tz=tz,
        where=where,
        reprice=p,
        since=None if since is None else reference.at(since),
        until=None if until is None else reference.at(until),
    )
    want = reference.rollup(data, by, tz, where, since, until, pricer=p)
    got = {tuple(as_key(r[k]) for k in by): r for r in out.to_dicts()}
    assert got.keys() == want.keys()
    for key, g in want.items():
        r = got[key]
        assert r["calls"] == g["calls"]
        assert r["unpriced_calls"] == g["unpriced"]
        assert reference.pico(r["cost"]) == (g["cost"] if g["unpriced"] < g["calls"] else None)
        assert {b: r[b] for b in BUCKETS} == {b: g[b] for b in BUCKETS}
        repriced = g["repriced"] if g["repriced_unpriced"] < g["calls"] else None
        assert reference.pico(r["repriced_cost"]) == repriced
        assert r["repriced_unpriced_calls"] == g["repriced_unpriced"]
        lat = g["latencies"]
        if lat:
            assert r["latency_ms_mean"] == pytest.approx(sum(lat) / len(lat))
            assert r["latency_ms_p50"] == pytest.approx(reference.quantile(lat, 0.5))
            assert r["latency_ms_p95"] == pytest.approx(reference.quantile(lat, 0.95))
            assert r["latency_ms_max"] == max(lat)
        else:
            assert r["latency_ms_p50"] is None


@settings(max_examples=80, deadline=None)
@given(
    history=models(),
    ledger=st.lists(rows(), max_size=30),
    as_mode=st.sampled_from([None, "batch", "standard"]),
    discount=st.sampled_from([0, 333_333]),
)
def test_per_call_reprice_matches_pricer_price(history, ledger, as_mode, discount):
    p = pricer(history, discount)
    data = frame(ledger)
    out = analytics.reprice(data, catalog=p, as_mode=as_mode)
    want = [reference.repriced(p, r, as_mode) for r in data.to_dicts()]
    assert [reference.pico(v) for v in out["repriced_cost"].to_list()] == want
    assert out.drop("repriced_cost", "cost_difference").equals(data)
    assert out.schema["repriced_cost"] == pl.Decimal(38, 12)
