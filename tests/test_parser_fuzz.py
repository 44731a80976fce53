"""Random and mangled bytes never panic the Rust parser and never raise from feed/finish."""

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger._core import MAX_TOKENS, Summary, UsageParser, estimate_request_tokens

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.name != "cases.json"]
APIS = ["chat", "responses", "completions", "embeddings", "messages", "generate_content"]

# Fragments that steer the parser into its interesting states.
TOKENS = [
    b"data: ",
    b"event: message_start\n",
    b"\n",
    b"\r\n",
    b"\r",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"usage":',
    b'{"usage":{"prompt_tokens":-1,"input_tokens":1e300}}',
    b'"usageMetadata":{"promptTokenCount":"x"}',
    b"[DONE]",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\xff",
    b"null",
]


def run(api: str, streaming: bool, chunks: list[bytes]) -> Summary:
    parser = UsageParser(api, streaming)  # type: ignore[arg-type]
    for chunk in chunks:
        parser.feed(chunk)
    return parser.finish()


@settings(max_examples=300, deadline=None)
@given(
    api=st.sampled_from(APIS),
    streaming=st.booleans(),
    chunks=st.lists(st.binary(max_size=64), max_size=12),
)
def test_random_bytes_never_raise(api: str, streaming: bool, chunks: list[bytes]) -> None:
    out = run(api, streaming, chunks)
    assert isinstance(out.output_text, str)


@settings(max_examples=300, deadline=None)
@given(
    api=st.sampled_from(APIS),
    streaming=st.booleans(),
    chunks=st.lists(st.sampled_from(TOKENS) | st.binary(max_size=8), max_size=40),
)
def test_sse_and_json_fragments_never_raise(api: str, streaming: bool, chunks: list[bytes]) -> None:
    run(api, streaming, chunks)


@settings(max_examples=200, deadline=None)
@given(
    api=st.sampled_from(APIS),
    sample=st.sampled_from(SAMPLES),
    data=st.data(),
)
def test_mangled_fixtures_never_raise(api: str, sample: bytes, data: st.DataObject) -> None:
    # Real bodies with bytes flipped or dropped: deep inside valid JSON, where random bytes
    # seldom reach.
    body = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if body and data.draw(st.booleans()):
            body[i] = data.draw(st.integers(0, 255))
        else:
            del body[i : i + data.draw(st.integers(0, 16))]
    cut = data.draw(st.integers(0, len(body)))
    out = run(api, True, [bytes(body[:cut]), bytes(body[cut:])])
    assert out.tokens is None or all(0 <= v <= MAX_TOKENS for v in out.tokens)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["messages", "input", "content", "role", "name", "text", "parts"])
            | st.text(max_size=5),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    api=st.sampled_from(APIS),
    body=st.binary(max_size=200) | JSONISH.map(lambda v: json.dumps(v).encode()),
)
def test_request_estimates_never_raise(api: str, body: bytes) -> None:
    # The app's own request body, whatever it holds: any JSON, or not JSON at all.
    assert estimate_request_tokens(api, body, "o200k_base") >= 0  # type: ignore[arg-type]
