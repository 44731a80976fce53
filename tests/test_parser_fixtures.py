"""The Rust usage parser through Python, on the shared fixtures and any split of them."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger._core import Summary, UsageParser

FIXTURES = Path(__file__).parent / "fixtures"
CASES: dict[str, dict] = json.loads((FIXTURES / "cases.json").read_text())


def parse(case: dict, chunks: list[bytes]) -> Summary:
    parser = UsageParser(case["api"], case["streaming"])
    for chunk in chunks:
        parser.feed(chunk)
    return parser.finish()


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_gives_the_hand_worked_summary(name: str) -> None:
    case = CASES[name]
    out = parse(case, [(FIXTURES / name).read_bytes()])
    want_tokens = None if case["usage"] is None else tuple(case["usage"])
    assert out.tokens == want_tokens
    assert out.usage_source == (
        None if case["usage"] is None else "stream_final" if name.endswith(".sse") else "response"
    )
    assert (out.model, out.response_id, out.service_tier) == (
        case["model"],
        case["response_id"],
        case["service_tier"],
    )
    assert out.output_text == case["output_text"]
    assert out.events == case["events"]
    assert (out.error is not None) == case["error"]
    assert (out.raw_usage is None) == (case["usage"] is None)


def test_raw_usage_is_the_providers_object_verbatim() -> None:
    case = CASES["openai_chat_reasoning_cached.json"]
    out = parse(case, [(FIXTURES / "openai_chat_reasoning_cached.json").read_bytes()])
    body = json.loads((FIXTURES / "openai_chat_reasoning_cached.json").read_text())
    assert json.loads(out.raw_usage) == body["usage"]


def test_finish_twice_returns_the_same_summary_and_later_bytes_are_ignored() -> None:
    case = CASES["openai_chat_stream.sse"]
    parser = UsageParser(case["api"], case["streaming"])
    parser.feed((FIXTURES / "openai_chat_stream.sse").read_bytes())
    first = parser.finish()
    parser.feed(b"data: {}\n\n")
    assert parser.finish() == first


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(CASES)), data=st.data())
def test_any_chunking_gives_the_same_summary(name: str, data: st.DataObject) -> None:
    case = CASES[name]
    body = (FIXTURES / name).read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=20)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert parse(case, chunks) == parse(case, [body])


def test_an_unknown_api_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown api"):
        UsageParser("nope", True)  # type: ignore[arg-type]
