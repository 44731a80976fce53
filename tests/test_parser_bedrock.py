"""The Rust parser on Bedrock's AWS event-stream bodies: byte-exact fixtures, checked against
botocore's own decoder (the one the anthropic SDK reads them with), split at any offset,
corrupted at any byte."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
import uuid
from pathlib import Path

import pytest
from botocore.eventstream import EventStreamBuffer, ParserError
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger._core import Summary, UsageParser

sys.path.insert(0, str(Path(__file__).parent))  # tests/, for fakeprovider
from fakeprovider import eventstream

FIXTURES = Path(__file__).parent / "fixtures"
STREAM = "bedrock_messages_stream.eventstream"
THROTTLED = "bedrock_messages_stream_throttled.eventstream"
STREAM_BYTES = (FIXTURES / STREAM).read_bytes()


def parse(chunks: list[bytes]) -> Summary:
    parser = UsageParser.event_stream("messages")
    for chunk in chunks:
        parser.feed(chunk)
    return parser.finish()


def botocore_messages(body: bytes) -> list[tuple[dict, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return [(m.headers, m.payload) for m in buffer]


def test_the_fixtures_are_what_the_builder_writes() -> None:
    for name, body in eventstream.fixtures().items():
        assert (FIXTURES / name).read_bytes() == body, name


@pytest.mark.parametrize("name", [STREAM, THROTTLED])
def test_botocore_reads_the_fixtures_and_their_events_give_the_same_summary(name: str) -> None:
    # botocore checks both CRCs of every message, and decodes the headers on its own.
    body = (FIXTURES / name).read_bytes()
    sse, exceptions = [], []
    for headers, payload in botocore_messages(body):
        if headers[":message-type"] == "event":
            assert (headers[":event-type"], headers[":content-type"]) == (
                "chunk",
                "application/json",
            )
            event = base64.b64decode(json.loads(payload)["bytes"])
            sse.append(b"data: " + event + b"\n\n")
        else:
            exceptions.append((headers[":exception-type"], json.loads(payload)["message"]))
    over_sse = UsageParser("messages", True)
    over_sse.feed(b"".join(sse))
    from_sse = over_sse.finish()
    got = parse([body])
    for field in ("model", "response_id", "tokens", "raw_usage", "output_text", "events"):
        assert getattr(got, field) == getattr(from_sse, field), field
    if exceptions:
        [(kind, text)] = exceptions
        assert (got.failure, got.error) == (kind, f"provider error: {kind}: {text}")
    else:
        assert (got.failure, got.error) == (None, None)


def test_the_stream_fixture_gives_the_hand_worked_summary() -> None:
    s = parse([(FIXTURES / STREAM).read_bytes()])
    # Anthropic's counts are disjoint: 25 input, 10000 cache reads, 1000 five-minute and 2000
    # one-hour cache writes, 120 output (message_delta's cumulative count).
    assert s.tokens == (25, 10000, 1000, 2000, 120, 0, 0, 0)
    assert s.usage_source == "stream_final"
    assert (s.model, s.response_id) == (
        "claude-haiku-4-5-20251001",
        "msg_bdrk_01XFDUDYJgAACzvnptvVoYEL",
    )
    assert s.output_text == "Hello! How can I help you today?"
    assert (s.events, s.error, s.failure) == (8, None, None)


def test_the_throttled_fixture_fails_with_the_usage_seen() -> None:
    s = parse([(FIXTURES / THROTTLED).read_bytes()])
    assert s.failure == "throttlingException"
    assert s.error == (
        "provider error: throttlingException: Too many requests, please wait before trying again."
    )
    assert s.tokens == (25, 10000, 1000, 2000, 1, 0, 0, 0)  # message_start's, output so far
    assert s.output_text == "Hello! How can I help"


def test_headers_of_all_ten_types_are_read_as_botocore_reads_them() -> None:
    stamp = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    ms = int(stamp.timestamp() * 1000)
    odd = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers: dict[str, eventstream.HeaderValue] = {
        "t": True, "f": False, "b": ("byte", -7), "s": ("short", -300),
        "i": ("integer", 70_000), "l": ("long", -(2**40)), "a": b"\x00\xff",
        "ts": ("timestamp", ms), "u": odd, ":message-type": "event", ":event-type": "chunk",
    }  # fmt: skip
    event = '{"type":"message_delta","usage":{"output_tokens":9}}'
    payload = json.dumps({"bytes": base64.b64encode(event.encode()).decode()}).encode()
    body = eventstream.message(headers, payload)
    [(decoded, got_payload)] = botocore_messages(body)
    assert decoded == {
        "t": True, "f": False, "b": -7, "s": -300, "i": 70_000, "l": -(2**40), "a": b"\x00\xff",
        "ts": ms, "u": odd.bytes, ":message-type": "event", ":event-type": "chunk",
    }  # fmt: skip
    assert got_payload == payload
    assert parse([body]).tokens == (0, 0, 0, 0, 9, 0, 0, 0)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from([STREAM, THROTTLED]), data=st.data())
def test_any_chunking_gives_the_same_summary(name: str, data: st.DataObject) -> None:
    body = (FIXTURES / name).read_bytes()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=20)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert parse(chunks) == parse([body])


@settings(max_examples=100, deadline=None)
@given(at=st.integers(0, len((FIXTURES / STREAM).read_bytes()) - 1), flip=st.integers(1, 255))
def test_a_corrupt_byte_is_a_clean_error_as_botocore_finds_too(at: int, flip: int) -> None:
    body = bytearray((FIXTURES / STREAM).read_bytes())
    body[at] ^= flip
    s = parse([bytes(body)])
    assert "CRC mismatch" in s.error
    assert s.failure is None
    with pytest.raises(ParserError):  # a CRC mismatch, or a length past its own caps
        botocore_messages(bytes(body))


def test_a_body_cut_inside_a_message_says_so() -> None:
    body = (FIXTURES / STREAM).read_bytes()
    s = parse([body[:-10]])
    assert s.error.startswith("the event stream ended inside a message (")
    # the cut message was message_stop: the usage was all in before it
    assert s.tokens == (25, 10000, 1000, 2000, 120, 0, 0, 0)


@settings(max_examples=200, deadline=None)
@given(
    api=st.sampled_from(["messages", "chat", "generate_content"]),
    chunks=st.lists(
        st.binary(max_size=64) | st.sampled_from(eventstream.split_messages(STREAM_BYTES)),
        max_size=12,
    ),
)
def test_random_bytes_and_messages_never_raise(api: str, chunks: list[bytes]) -> None:
    parser = UsageParser.event_stream(api)  # type: ignore[arg-type]
    for chunk in chunks:
        parser.feed(chunk)
    assert isinstance(parser.finish().output_text, str)
