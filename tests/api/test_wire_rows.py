"""`ledger_row()`, which capture feeds with values from the wire, never builds a row the
database refuses: text is cut to its column and NUL and lone surrogates become U+FFFD."""

import time

from hypothesis import given, settings
from hypothesis import strategies as st

import llmledger
from llmledger.config import state
from llmledger.record.recorder import ledger_row

TOKENS = (10, 0, 0, 0, 5, 0, 0, 0)


def row_for(provider, model, *, pricing_mode="standard", response_id=None, status="ok"):
    st = state()
    row, _ = ledger_row(
        st,
        provider,
        model,
        TOKENS,
        ts_us=time.time_ns() // 1000,
        pricing_mode=pricing_mode,
        usage_source="response",
        scoped_tags={},
        latency_ms=12.5,
        provider_response_id=response_id,
        status=status,
    )
    return row


def test_absurd_text_from_the_wire_is_stored_normalised(any_ledger):
    row = row_for(
        "Local-\udcff" + "p" * 100,
        "m\x00" + "x" * 400,
        pricing_mode="tier-\ud800" + "t" * 50,
        response_id="resp\x00" + "r" * 300,
    )
    expected = {
        "provider": "local-\ufffd" + "p" * 57,
        "model": "m\ufffd" + "x" * 253,
        "pricing_mode": "tier-\ufffd" + "t" * 26,
        "provider_response_id": "resp\ufffd" + "r" * 250,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["cost"] is None
    state().writer.submit(row)
    (stored,) = llmledger.calls().to_dicts()
    assert {k: stored[k] for k in expected} == expected
    assert (stored["input_tokens"], stored["output_tokens"], stored["latency_ms"]) == (10, 5, 12.5)
    assert state().writer.stats()["written"] == 1


def test_ordinary_text_passes_through_unchanged(ledger):
    model = "gpt-4o-2024-08-06"
    row = row_for("OpenAI", model, response_id="chatcmpl-\N{ROBOT FACE}")
    assert row["model"] is model  # no copy on the common path
    assert (row["provider"], row["provider_response_id"]) == ("openai", "chatcmpl-\N{ROBOT FACE}")
    assert row["cost_input"] is not None


def wire_normalised(value, limit):
    """The documented normalisation, written out independently."""
    return "".join(
        "\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value[:limit]
    )


WIRE_TEXT = st.text(st.characters(exclude_categories=()) | st.sampled_from(["\x00", "\udcff"]))


def test_any_text_from_the_wire_is_stored_as_normalised(any_ledger):
    pricer = state().pricer
    stored = []

    @settings(max_examples=50, deadline=None)
    @given(
        provider=WIRE_TEXT | st.integers(60, 70).map(lambda n: "P" * n),
        model=WIRE_TEXT | st.integers(250, 400).map(lambda n: "\N{ROBOT FACE}" * n),
        mode=WIRE_TEXT,
        response_id=st.none() | WIRE_TEXT | st.integers(250, 300).map(lambda n: "r\x00" * n),
    )
    def check(provider, model, mode, response_id):
        row = row_for(provider, model, pricing_mode=mode, response_id=response_id)
        expected = {
            "provider": wire_normalised(pricer.provider_id(provider), 64),
            "model": wire_normalised(model, 255),
            "pricing_mode": wire_normalised(mode, 32),
            "provider_response_id": None
            if response_id is None
            else wire_normalised(response_id, 255),
        }
        state().writer.submit(row)
        stored.append(row["event_id"])
        (back,) = llmledger.calls(event_id=row["event_id"]).to_dicts()
        assert {key: back[key] for key in expected} == expected

    check()
    assert sorted(llmledger.calls()["event_id"].to_list()) == sorted(stored)
