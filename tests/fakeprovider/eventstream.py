"""AWS event-stream messages, built by the documented layout, as Amazon Bedrock streams them.

https://smithy.io/2.0/aws/amazon-eventstream.html: a prelude (total length and headers
length, u32 big-endian, then the CRC32 of those 8 bytes), the headers (name length u8, name,
value type u8, value), the payload, and the CRC32 of everything before it. Bedrock's
`InvokeModelWithResponseStream` sends each Anthropic stream event base64-encoded in a `chunk`
event, and ends a failed stream with an `exception` message.
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModelWithResponseStream.html

The fixtures in tests/fixtures (`bedrock_*.eventstream`) were written by `write_fixtures()`;
a test checks that they still are, and that botocore's own decoder reads them.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from pathlib import Path

__all__ = [
    "CONTENT_TYPE",
    "bedrock_stream",
    "chunk",
    "exception",
    "message",
    "split_messages",
    "write_fixtures",
]

CONTENT_TYPE = "application/vnd.amazon.eventstream"

# A header value: bool, ("byte" | "short" | "integer" | "long" | "timestamp", int), bytes,
# str, or uuid.UUID: the ten types (true and false are two).
HeaderValue = bool | tuple[str, int] | bytes | str | uuid.UUID
_INTS = {"byte": (2, ">b"), "short": (3, ">h"), "integer": (4, ">i"), "long": (5, ">q"),
         "timestamp": (8, ">q")}  # fmt: skip


def _header(name: str, value: HeaderValue) -> bytes:
    raw = name.encode()
    out = struct.pack(">B", len(raw)) + raw
    if isinstance(value, bool):
        return out + (b"\x00" if value else b"\x01")
    if isinstance(value, tuple):
        kind, number = value
        code, fmt = _INTS[kind]
        return out + bytes([code]) + struct.pack(fmt, number)
    if isinstance(value, bytes):
        return out + b"\x06" + struct.pack(">H", len(value)) + value
    if isinstance(value, str):
        text = value.encode()
        return out + b"\x07" + struct.pack(">H", len(text)) + text
    return out + b"\x09" + value.bytes


def message(headers: dict[str, HeaderValue], payload: bytes) -> bytes:
    """One event-stream message."""
    encoded = b"".join(_header(n, v) for n, v in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack(">I", zlib.crc32(head))


def chunk(event: str, padding: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ") -> bytes:
    """A Bedrock `chunk` event carrying one Anthropic stream event (JSON text). Bedrock pads
    its chunks ("p") so that their sizes do not reveal the text."""
    payload = {"bytes": base64.b64encode(event.encode()).decode(), "p": padding}
    return message(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"},
        json.dumps(payload, separators=(",", ":")).encode(),
    )


def exception(kind: str, text: str) -> bytes:
    """A Bedrock `exception` message (`throttlingException`, `modelStreamErrorException`...)."""
    return message(
        {":exception-type": kind, ":content-type": "application/json",
         ":message-type": "exception"},
        json.dumps({"message": text}).encode(),
    )  # fmt: skip


def bedrock_stream(events: list[str], tail: bytes = b"") -> bytes:
    """A Bedrock stream of `events` (Anthropic's, as JSON text), then `tail`."""
    return b"".join(chunk(e) for e in events) + tail


def split_messages(body: bytes) -> list[bytes]:
    """`body` cut into its messages (a partial last one kept whole), by their prelude."""
    out, at = [], 0
    while at < len(body):
        (total,) = struct.unpack_from(">I", body, at) if len(body) - at >= 4 else (len(body),)
        out.append(body[at : at + total])
        at += total
    return out


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _messages_stream_events(final: str) -> list[str]:
    """A Claude Haiku 4.5 stream as Bedrock sends it (ids "msg_bdrk_"), ending with `final`."""
    start = {"type": "message_start", "message": {
        "id": "msg_bdrk_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "model": "claude-haiku-4-5-20251001", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {
            "input_tokens": 25, "cache_creation_input_tokens": 3000,
            "cache_read_input_tokens": 10000,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            "output_tokens": 1}}}  # fmt: skip
    texts = ["Hello", "! How can I help", " you today?"]
    return [
        _compact(start),
        '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        *(
            _compact(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": t},
                }
            )
            for t in texts
        ),
        '{"type":"content_block_stop","index":0}',
        '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
        '"usage":{"output_tokens":120}}',
        final,
    ]


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_METRICS = ('{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,'
            '"outputTokenCount":120,"invocationLatency":812,"firstByteLatency":301}}')  # fmt: skip


def fixtures() -> dict[str, bytes]:
    """The Bedrock fixtures, by file name."""
    events = _messages_stream_events(_METRICS)
    throttled = exception(
        "throttlingException", "Too many requests, please wait before trying again."
    )
    return {
        "bedrock_messages_stream.eventstream": bedrock_stream(events),
        "bedrock_messages_stream_throttled.eventstream": bedrock_stream(events[:4], throttled),
    }


def write_fixtures() -> None:
    """Write the fixtures (once; they are committed, and a test checks they are these)."""
    for name, body in fixtures().items():
        (FIXTURES / name).write_bytes(body)


if __name__ == "__main__":
    write_fixtures()
