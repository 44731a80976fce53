"""Property: every `track()` either raises ValueError/TypeError where it is called, or is
stored and read back exactly (tags as the documented normalisation makes them), on SQLite,
PostgreSQL and MySQL/MariaDB. An independent oracle says which of the two each call must do.
"""

import datetime as dt
import math
import re

from hypothesis import event, given, settings
from hypothesis import strategies as st

import llmledger
from llmledger.config import state
from llmledger.store.schema import BUCKETS
from llmledger.tagging import _SECRET_KEY as SECRET  # redaction is not what is tested here
from llmledger.tagging import REDACTED

# All of Unicode, lone surrogates included (Hypothesis leaves them out by default), with
# NUL and a surrogateescape'd byte made common.
CHARS = st.characters(exclude_categories=()) | st.sampled_from(["\x00", "\udcff", "\ud83d"])
# What the issue saw break a ledger, so that every run tries it.
TRICKY = st.sampled_from(
    ["a\x00b", "report-\udcff.pdf", "\ud83d", "\N{ROBOT FACE}", "y" * 255 + "\x00", " ", ""]
)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(-dt.timedelta(hours=12))]
)


def text(limit):
    """Any text, and text of about the column's length."""
    sizes = st.integers(max(limit - 2, 0), limit + 2)
    return (
        TRICKY
        | st.text(CHARS, max_size=limit // 8)
        | sizes.map(lambda n: "x" * n)
        | sizes.map(lambda n: "\N{ROBOT FACE}" * n)
    )


def anything_but_text():
    return st.none() | st.integers() | st.floats() | st.booleans()


TOKENS = (
    st.integers(0, 10**9)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**9, 10**9 + 1, 2**63 - 1, 2**63, 2**64])
    | st.floats()
    | st.booleans()
)
LATENCY = (
    st.none()
    | st.floats()
    | st.integers(-5, 2**1100)
    | st.sampled_from([0, 1e12, 1e12 + 1, math.nan, math.inf])
    | st.text(CHARS, max_size=3)
    | st.booleans()
)
TAG_VALUES = (
    TRICKY | TRICKY | st.text(CHARS, max_size=300) | st.integers() | st.floats() | st.none()
)
TAG_KEYS = TRICKY | st.text(CHARS, max_size=70) | st.sampled_from(["api_key", "k" * 64, "k" * 65])

# Each field, as an app would usually pass it (edges included: the column's full length,
# any storable character, the epoch's first day)...
STORABLE_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")


def usual_text(limit, names):
    return (
        st.text(STORABLE_CHARS, min_size=1, max_size=limit // 8)
        | st.integers(limit - 2, limit).map(lambda n: "x" * n)
        | st.sampled_from(names)
    )


USUAL = {
    "provider": usual_text(64, ["openai", "  Anthropic ", "opneai", "vllm"]),
    "model": usual_text(255, ["gpt-4o", "claude-sonnet-4-5", "o1-pro"]),
    "pricing_mode": usual_text(32, ["standard", "batch", "flex", "bacth"]),
    "at": st.none() | st.datetimes(dt.datetime(1970, 1, 2), timezones=st.none() | ZONES),
    "latency_ms": st.none() | st.floats(0, 1e12) | st.integers(0, 10**12),
    "provider_response_id": st.none() | usual_text(255, ["chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"]),
    "tags": st.dictionaries(
        st.text(STORABLE_CHARS, min_size=1, max_size=20) | st.just("k" * 64), TAG_VALUES, max_size=3
    ),
    "buckets": st.dictionaries(
        st.sampled_from(BUCKETS), st.integers(0, 10**9) | st.just(10**9), max_size=4
    ),
}
# ... and anything at all, valid or not.
ANY = {
    "provider": text(64) | anything_but_text(),
    "model": text(255) | anything_but_text(),
    "pricing_mode": text(32) | anything_but_text(),
    "at": st.datetimes(timezones=st.none() | ZONES),
    "latency_ms": LATENCY,
    "provider_response_id": text(255) | anything_but_text(),
    "tags": st.dictionaries(TAG_KEYS, TAG_VALUES, max_size=4),
    "buckets": st.dictionaries(st.sampled_from(BUCKETS), TOKENS, max_size=4),
}


@st.composite
def track_args(draw):
    """Arguments for `track()`: half the time one field drawn from anything at all."""
    wild = draw(st.none() | st.sampled_from(sorted(ANY)))
    return {name: draw(ANY[name] if name == wild else USUAL[name]) for name in USUAL}


def storable(value, limit):
    return isinstance(value, str) and 0 < len(value) <= limit and UNSTORABLE.search(value) is None


def normalised(value):
    return "".join("\ufffd" if UNSTORABLE.match(c) else c for c in value[:256])


def utc(at):
    """`at` in UTC, None for now; False if no UTC time corresponds to it."""
    if at is None or at.tzinfo is None:
        return at if at is None else at.replace(tzinfo=dt.UTC)
    try:
        return at.astimezone(dt.UTC)
    except OverflowError:
        return False


def expected_row(args):
    """The row the oracle expects `track(**args)` to store; None if it must raise."""
    provider = args["provider"]
    stored_provider = state().pricer.provider_id(provider) if isinstance(provider, str) else None
    at = utc(args["at"])
    latency = args["latency_ms"]
    tags = args["tags"] or {}
    valid = (
        storable(stored_provider, 64)
        and storable(args["model"], 255)
        and storable(args["pricing_mode"], 32)
        and (args["provider_response_id"] is None or storable(args["provider_response_id"], 255))
        and at is not False
        and (at is None or at >= EPOCH)
        and (
            latency is None
            or (type(latency) in (int, float) and 0 <= latency <= 1e12)  # NaN: False
        )
        and all(type(v) is int and 0 <= v <= 10**9 for v in args["buckets"].values())
        and all(storable(k, 64) for k in tags)
    )
    if not valid:
        return None
    return {
        "provider": stored_provider,
        "model": args["model"],
        "pricing_mode": args["pricing_mode"],
        "provider_response_id": args["provider_response_id"],
        "latency_ms": None if latency is None else float(latency),
        **{b: args["buckets"].get(b, 0) for b in BUCKETS},
        "tags": {
            k: REDACTED if SECRET.search(k) else normalised(str(v))
            for k, v in tags.items()
            if v is not None
        },
        **({} if at is None else {"at": at}),
    }


def test_what_track_accepts_is_stored_and_read_back_exactly(any_ledger):
    accepted = []

    @settings(max_examples=100, deadline=None)
    @given(args=track_args())
    def check(args):
        expected = expected_row(args)
        buckets = args.pop("buckets")
        try:
            call = llmledger.track(**args, **buckets)
        except (ValueError, TypeError):
            assert expected is None, f"refused a call the oracle accepts: {args}"
            return
        assert expected is not None, f"accepted a call the oracle refuses: {args}"
        accepted.append(call.event_id)
        event("accepted")
        (row,) = llmledger.calls(event_id=call.event_id).to_dicts()
        assert {key: row[key] for key in expected} == expected
        assert (row["at"], row["provider"]) == (call.at, call.provider)

    check()
    # Every accepted call, once; and the ledger as a whole still reads and rolls up.
    assert sorted(llmledger.calls()["event_id"].to_list()) == sorted(accepted)
    total = llmledger.rollup(state().engine)["calls"].to_list()
    assert total == ([len(accepted)] if accepted else [])
    assert state().writer.stats()["written"] == len(accepted)
