"""Rollups and re-pricing of in-memory ledgers: hand-worked cases, then the kernel against the
plain-Python reference on generated ledgers and price histories."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest

from llmledger import UnknownTagWarning, analytics

from . import reference
from .ledgers import D0, frame, pricer, ts, utc

ZERO = (0,) * 8


def tokens(input_tokens: int = 0, output_tokens: int = 0, cache_read: int = 0) -> tuple:
    return (input_tokens, cache_read, 0, 0, output_tokens, 0, 0, 0)


def row(at_us, model="m", tok=ZERO, cost=None, mode="standard", latency=None, **tags):
    return {
        "at_us": at_us,
        "provider": "p0",
        "model": model,
        "tokens": tok,
        "cost": cost,
        "mode": mode,
        "latency": latency,
        "tags": tags,
    }


# m: $2 / $8 per MTok, from 2026-01-01 $1 / $4; batch halves input.
# t: $1 per MTok input, $2 above 200 input tokens (the whole request).
MODELS = [
    {
        "name": "m",
        "versions": [
            {
                "when": None,
                "rates": {"input_mtok": {"base": 2_000_000}, "output_mtok": {"base": 8_000_000}},
            },
            {
                "when": {"from_day": D0},
                "rates": {"input_mtok": {"base": 1_000_000}, "output_mtok": {"base": 4_000_000}},
            },
        ],
        "variants": [{"mode": 0, "when": None, "rates": {"input_mtok": {"base": 500_000}}}],
    },
    {
        "name": "t",
        "versions": [
            {
                "when": None,
                "rates": {"input_mtok": {"base": 1_000_000, "tiers": [[200, 2_000_000]]}},
            }
        ],
    },
]


def usd(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)


def test_price_change_applies_from_its_exact_instant_and_tiers_from_one_past_the_threshold():
    p = pricer(MODELS)
    ledger = frame(
        [
            row(ts(D0) - 1, tok=tokens(1000, 100), cost=1, latency=10.0, feature="chat"),
            row(ts(D0), tok=tokens(1000, 100), cost=2, latency=20.0, feature="chat"),
            row(ts(D0), tok=tokens(1000, 100), mode="batch", latency=40.0, feature="chat"),
            row(ts(D0), model="t", tok=tokens(150, cache_read=50), feature="search"),
            row(ts(D0), model="t", tok=tokens(151, cache_read=50), feature="search"),
            row(ts(D0), model="zz", tok=tokens(5), feature="search"),
        ]
    )
    out = analytics.rollup(ledger, by=["model"], reprice=p)
    assert out["model"].to_list() == ["m", "t", "zz"]
    assert out["calls"].to_list() == [3, 2, 1]
    assert out["unpriced_calls"].to_list() == [1, 2, 1]
    assert out["cost"].to_list() == [usd(3), None, None]
    # m: 1000 x 2e6 + 100 x 8e6 before, 1000 x 1e6 + 100 x 4e6 from the instant, batch input 5e5.
    # t: 200 input tokens stay at 1e6; 201 cross the tier: all 201 at 2e6.
    assert out["repriced_cost"].to_list() == [
        usd(2_800_000_000 + 1_400_000_000 + 900_000_000),
        usd(200_000_000 + 402_000_000),
        None,
    ]
    assert out["repriced_unpriced_calls"].to_list() == [0, 0, 1]
    assert out["cost_difference"].to_list() == [usd(5_100_000_000 - 3), None, None]
    assert out["input_tokens"].to_list() == [3000, 301, 5]
    assert out["cache_read_tokens"].to_list() == [0, 100, 0]
    assert out["latency_ms_mean"].to_list() == [pytest.approx(70 / 3), None, None]
    assert out["latency_ms_p50"].to_list()[0] == 20.0
    assert out["latency_ms_p95"].to_list()[0] == pytest.approx(38.0)
    assert out["latency_ms_max"].to_list()[0] == 40.0

    per_call = analytics.reprice(ledger, catalog=p)
    assert per_call["repriced_cost"].to_list() == [
        usd(2_800_000_000),
        usd(1_400_000_000),
        usd(900_000_000),
        usd(200_000_000),
        usd(402_000_000),
        None,
    ]
    assert per_call["cost_difference"].to_list()[:2] == [
        usd(2_800_000_000 - 1),
        usd(1_400_000_000 - 2),
    ]
    # Recorded costs are untouched.
    assert per_call["cost"].to_list() == ledger["cost"].to_list()


def test_what_if_batch_and_what_if_another_model():
    p = pricer(MODELS)
    ledger = frame([row(ts(D0), tok=tokens(1000, 100)), row(ts(D0), model="zz", tok=tokens(1000))])
    batch = analytics.reprice(ledger, catalog=p, as_mode="batch", by=["model"])
    assert batch["repriced_cost"].to_list() == [usd(500_000_000 + 400_000_000), None]
    as_t = analytics.reprice(ledger, catalog=p, as_model="p0/t", by=["model"])
    # Every call priced as t, the unknown model's too.
    assert as_t["repriced_cost"].to_list() == [usd(1_000 * 2_000_000), usd(1_000 * 2_000_000)]


def test_tags_group_and_filter_with_missing_and_unicode_values():
    ledger = frame(
        [
            row(1, cost=5, feature="chat", tenant="ümlaut-客户-🚀"),
            row(2, cost=7, feature="chat"),
            row(3, cost=11, tenant="ümlaut-客户-🚀"),
            row(4, cost=13, feature="chat", tenant="ümlaut-客户-🚀"),
        ]
    )
    out = analytics.rollup(ledger, by=["feature", "tenant"])
    got = {(f, t): c for f, t, c in out.select("feature", "tenant", "cost").iter_rows()}
    assert got == {
        ("chat", "ümlaut-客户-🚀"): usd(18),
        ("chat", None): usd(7),
        (None, "ümlaut-客户-🚀"): usd(11),
    }
    only = analytics.rollup(ledger, by=["tenant"], where={"feature": "chat"})
    assert dict(only.select("tenant", "calls").iter_rows()) == {None: 1, "ümlaut-客户-🚀": 2}
    with pytest.warns(UnknownTagWarning, match=r"^no call in the window has the tag 'project';"):
        assert analytics.rollup(ledger, by=["tenant"], where={"project": "x"}).height == 0
    assert analytics.rollup(ledger, by=["feature"], where={"tenant": "nobody"}).height == 0


def test_empty_ledger_and_one_row():
    empty = frame([])
    out = analytics.rollup(empty, by=["feature"], bucket="day", reprice=pricer(MODELS))
    assert out.height == 0
    assert out.columns[:4] == ["day", "feature", "calls", "unpriced_calls"]
    assert out.schema["cost"] == pl.Decimal(38, 12)
    one = analytics.rollup(
        frame([row(ts(D0, 5), cost=9, latency=3.5, feature="x")]), bucket="month"
    )
    assert one.to_dicts()[0] | {} == {
        **one.to_dicts()[0],
        "month": utc(2026, 1, 1),
        "calls": 1,
        "cost": usd(9),
        "latency_ms_p95": 3.5,
    }


def test_day_buckets_follow_the_time_zone():
    # 2026-03-08 is New York's spring-forward day; 04:59:59.999999Z is still the 7th there.
    ledger = frame(
        [
            row(reference.us(utc(2026, 3, 8, 4, 59, 59)) + 999_999, cost=1),
            row(reference.us(utc(2026, 3, 8, 5)), cost=2),
            row(reference.us(utc(2026, 3, 9, 3, 59)), cost=4),
            row(reference.us(utc(2026, 3, 9, 4)), cost=8),
        ]
    )
    out = analytics.rollup(ledger, bucket="day", tz="America/New_York")
    assert out["day"].dt.convert_time_zone("UTC").to_list() == [
        utc(2026, 3, 7, 5),
        utc(2026, 3, 8, 5),
        utc(2026, 3, 9, 4),
    ]
    assert out["cost"].to_list() == [usd(1), usd(6), usd(8)]
    kolkata = analytics.rollup(ledger, bucket="hour", tz="+05:30")
    assert kolkata["hour"].dt.convert_time_zone("UTC").to_list()[0] == utc(2026, 3, 8, 4, 30)
    # Re-pricing by day buckets the same way.
    repriced = analytics.reprice(ledger, catalog=pricer(MODELS), by=["day"], tz="America/New_York")
    assert repriced["day"].to_list() == out["day"].to_list()
    assert repriced["cost"].to_list() == out["cost"].to_list()


def test_since_until_and_arrow_inputs_of_every_string_layout():
    ledger = frame([row(ts(D0, s), cost=s + 1, feature=f) for s, f in enumerate("abcab")])
    table = ledger.to_arrow()
    features = table.column("tags").combine_chunks().field("feature")
    for layout in (pa.large_string(), pa.string(), pa.dictionary(pa.int32(), pa.string())):
        t = table.append_column("feature", features.cast(layout)).drop_columns(["tags"])
        out = analytics.rollup(
            t, by=["feature"], since=reference.at(ts(D0, 1)), until=reference.at(ts(D0, 4))
        )
        # Groups in the order of their first row kept: b (second 1), c, a (second 3).
        assert out.select("feature", "cost").rows() == [("b", usd(2)), ("c", usd(3)), ("a", usd(4))]


def test_a_frame_of_several_chunks_rolls_up_like_one():
    rows = [
        row(ts(D0, s), model="mt"[s % 2], tok=tokens(100 * s, s), cost=s, latency=s / 4, feature=f)
        for s, f in enumerate("abcabcab")
    ]
    whole = frame(rows)
    chunked = pl.concat([whole.slice(0, 3), whole.slice(3, 2), whole.slice(5)], rechunk=False)
    assert chunked.n_chunks() == 3
    p = pricer(MODELS)
    for by in (["feature"], ["day", "model"]):
        expected = analytics.rollup(whole, by=by, reprice=p)
        assert analytics.rollup(chunked, by=by, reprice=p).equals(expected)


def test_columns_chunked_apart_and_null_tags_roll_up_and_reprice_like_one_chunk():
    # The core takes a frame column by column, each in its own chunks: here 40 batches of
    # calls (a concatenation), `latency_ms` in one chunk and `cost` in two, a row whose tags
    # struct is null and calls the nightly job priced later.
    rows = [
        row(
            ts(D0, s),
            model="mt"[s % 3 % 2],
            tok=tokens(7 * s, s),
            cost=s if s % 5 else None,
            latency=s / 8,
            feature="abc"[s % 3],
            tenant=f"tenant-{s % 7:05d}",
        )
        for s in range(200)
    ]
    whole = frame(rows).with_columns(
        tags=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("tags")),
        backfilled_cost=pl.when(pl.col("cost").is_null() & (pl.int_range(pl.len()) % 2 == 0))
        .then(pl.lit(Decimal("0.000000000077")))
        .cast(pl.Decimal(38, 12)),
    )
    batches = pl.concat([whole.slice(s, 5) for s in range(0, 200, 5)], rechunk=False)
    cost = pl.concat([whole["cost"].slice(0, 101), whole["cost"].slice(101)], rechunk=False)
    chunked = batches.with_columns(whole["latency_ms"], cost)
    assert [chunked[c].n_chunks() for c in ("at", "cost", "latency_ms")] == [40, 2, 1]
    p = pricer(MODELS)
    for by in (["feature", "tenant"], ["day", "model"], []):
        expected = analytics.rollup(whole, by=by, reprice=p)
        assert analytics.rollup(chunked, by=by, reprice=p).equals(expected)
    assert analytics.reprice(chunked, catalog=p).equals(analytics.reprice(whole, catalog=p))
    # The null struct row groups with the rows without the tag.
    out = analytics.rollup(chunked, by=["feature"]).filter(pl.col("feature").is_null())
    assert out["calls"].to_list() == [1]


def test_a_tag_no_row_has_groups_every_call_under_null():
    # As SQL reads it: a frame's tags struct holds only the tags its rows have.
    # It is said, as a key no call has is most often a typo.
    f = frame([row(1, feature="a", cost=1), row(2, feature="b", cost=2)])
    absent = r"^no call in the window has the tag 'project'; the tags there are feature, tenant$"
    with pytest.warns(UnknownTagWarning, match=absent):
        out = analytics.rollup(f, by=["feature", "project"])
    assert out.select("feature", "project", "calls").rows() == [("a", None, 1), ("b", None, 1)]
    assert out.schema["project"] == pl.String
    with pytest.warns(UnknownTagWarning, match=absent):
        per_group = analytics.reprice(f, by=["project"], catalog=pricer(MODELS))
    assert per_group.select("project", "calls", "cost").rows() == [(None, 2, usd(3))]


def test_an_empty_frame_without_tags_rolls_up_to_no_groups():
    # What `calls()` gives for a window without calls: a tags struct with no fields.
    empty = frame([row(1, feature="a")]).clear()
    empty = empty.with_columns(pl.Series("tags", [], dtype=pl.Struct({})))
    out = analytics.rollup(empty, by=["feature"], bucket="day")
    assert out.height == 0
    assert out.columns[:2] == ["day", "feature"]
    assert analytics.rollup(empty.drop("tags"), by=["feature"]).columns == out.columns[1:]
    as_text = empty.with_columns(tags=pl.lit("{}"))
    with pytest.raises(KeyError, match="'feature' is not a column of the ledger, and its tags"):
        analytics.rollup(as_text, by=["feature"])


def test_one_key_alone_is_one_key_not_its_letters():
    f = frame([row(1, feature="a"), row(2, feature="b"), row(3, feature="a")])
    assert analytics.rollup(f, by="feature").equals(analytics.rollup(f, by=["feature"]))
    p = pricer(MODELS)
    one = analytics.reprice(f, by="feature", catalog=p)
    assert one.equals(analytics.reprice(f, by=["feature"], catalog=p))
    assert one["feature"].to_list() == ["a", "b"]


def test_a_lazy_frame_is_collected():
    f = frame([row(1, feature="a"), row(2, feature="b")])
    assert analytics.rollup(f.lazy(), by=["feature"]).equals(analytics.rollup(f, by=["feature"]))


def test_a_frame_without_a_time_column_is_not_a_ledger():
    message = r"^not a ledger: no time column `at` \(as `llmledger.calls\(\)` gives\) or `at_us`; "
    with pytest.raises(ValueError, match=message + "the frame has model, feature$"):
        analytics.rollup(pl.DataFrame({"model": ["m"], "feature": ["a"]}), by=["feature"])
    with pytest.raises(ValueError, match=message + "the frame has no columns$"):
        analytics.rollup(pl.DataFrame(), by=["feature"])


def test_bad_arguments_are_errors_where_called():
    f = frame([row(1, feature="a")])
    with pytest.raises(ValueError, match=r"^bucket must be one of hour, day, month, not 'week'$"):
        analytics.rollup(f, by=["feature"], bucket="week")
    with pytest.raises(ValueError, match=r"^by names 'feature' more than once$"):
        analytics.rollup(f, by=["feature", "day", "feature"])
    with pytest.raises(ValueError, match=r"^by names 'model' more than once$"):
        analytics.reprice(f, by=["model", "model"], catalog=pricer(MODELS))
    with pytest.raises(
        TypeError, match=r"^a time is a datetime, a date or an ISO 8601 string, not int$"
    ):
        analytics.rollup(f, by=["feature"], since=5)
    with pytest.raises(ValueError, match=r"^'2026-13-01' is not an ISO 8601 date or date-time$"):
        analytics.rollup(f, by=["feature"], until="2026-13-01")
    # A misspelt what-if mode would otherwise price every call at its standard rates.
    message = r"^as_mode 'bacth' is not a pricing mode of this catalog; it has standard, batch$"
    with pytest.raises(ValueError, match=message):
        analytics.reprice(f, as_mode="bacth", catalog=pricer(MODELS))
    with pytest.raises(ValueError, match=message):
        analytics.reprice(f, as_mode="bacth", by=["model"], catalog=pricer(MODELS))
    # Modes the catalog has are taken, standard too.
    assert (
        analytics.reprice(f, as_mode="standard", by=["model"], catalog=pricer(MODELS)).height == 1
    )
    # A misspelt what-if model would leave every call unpriced; a known one prices them.
    message = r"^as_model 'p0/mm' is priced by neither this catalog nor its overrides$"
    for by in (None, ["model"]):
        with pytest.raises(ValueError, match=message):
            analytics.reprice(f, as_model="p0/mm", by=by, catalog=pricer(MODELS))
    priced = analytics.reprice(f, as_model="p0/t", catalog=pricer(MODELS))["repriced_cost"]
    assert priced.to_list() == [usd(0)]  # no tokens, priced: zero, not null
    with pytest.raises(
        TypeError, match=r"^by names columns, tags or time units as strings, not 3$"
    ):
        analytics.rollup(f, by=["feature", 3])
    with pytest.raises(TypeError, match=r"^a ledger is an Engine, a database URL, a Polars frame"):
        analytics.rollup(None, by=["feature"])
