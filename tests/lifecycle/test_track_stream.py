"""`track_stream`: a stream the app reads itself is recorded once, through the same parser and
rules as capture, with exact buckets and cost; as "interrupted" when its block raises."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fakeprovider import reply
from fakeprovider.clients import make_client

import llmledger
from llmledger._core import count_tokens, estimate_request_tokens
from llmledger.capture import instrument
from llmledger.store.schema import BUCKETS

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
REQUEST = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def sse(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def events(body: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body, as an app parsing it line by line gets them."""
    lines = body.decode().splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


def the_row() -> dict[str, Any]:
    [row] = llmledger.calls().to_dicts()
    row["tokens"] = {b: row[b] for b in BUCKETS if row[b]}
    row["cost_pico"] = None if row["cost"] is None else int(row["cost"] * 10**12)
    return row


@pytest.mark.parametrize("size", [1, 7, None], ids=["1-byte", "7-byte", "whole"])
def test_raw_bytes_in_any_split(size: int | None, ledger_url: str) -> None:
    seen: list[tuple[llmledger.Call, str]] = []
    llmledger.configure(
        ledger_url, on_call=lambda c: seen.append((c, threading.current_thread().name))
    )
    body = sse("openai_chat_stream.sse")
    step = size or len(body)
    with (
        llmledger.tags(tenant="acme"),
        llmledger.track_stream("openai", "gpt-4o", tags={"feature": "chat"}) as s,
    ):
        for i in range(0, len(body), step):
            s.event(body[i : i + step])
    row = the_row()
    assert row["model"] == "gpt-4o-2024-08-06"  # the stream's own name for it
    assert row["tokens"] == {"input_tokens": 86, "cache_read_tokens": 1920, "output_tokens": 10}
    # 86 * 2.50 + 1920 * 1.25 (cached) + 10 * 10.00 USD per million tokens
    assert row["cost_pico"] == 2_715_000_000
    assert (row["usage_source"], row["status"], row["http_status"]) == ("stream_final", "ok", None)
    assert row["provider_response_id"] == "chatcmpl-BgVz3n7QkR1pXy2MwT5uLs8dH4aJc"
    assert row["tags"] == {"tenant": "acme", "feature": "chat"}
    assert row["latency_ms"] > 0
    [(call, thread)] = seen
    assert thread == "llmledger-writer"
    assert (call.event_id, call.cost_pico, call.usage_source) == (
        row["event_id"], 2_715_000_000, "stream_final",
    )  # fmt: skip


@pytest.mark.parametrize("split", [None, 5], ids=["per-event", "5-byte"])
def test_a_stream_read_with_a_plain_http_client(
    split: int | None, fake: Any, ledger_url: str
) -> None:
    """What the collector is for: the app posts and reads the stream itself, from the loopback
    provider, and feeds the body's bytes as its HTTP client hands them over."""
    llmledger.configure(ledger_url)
    fake.serve(reply("openai_chat_stream.sse", chunk_size=split))
    with (
        httpx2.Client() as http,
        http.stream("POST", fake.url + "/v1/chat/completions", json=REQUEST) as response,
        llmledger.track_stream("openai", "gpt-4o-mini", request=REQUEST) as s,
    ):
        for chunk in response.iter_bytes():
            s.event(chunk)
    row = the_row()
    assert row["model"] == "gpt-4o-mini-2024-07-18"
    # 19 * 0.15 + 10 * 0.60 USD per million tokens
    assert row["tokens"] == {"input_tokens": 19, "output_tokens": 10}
    assert (row["cost_pico"], row["usage_source"]) == (8_850_000, "stream_final")
    assert row["provider_response_id"] == "chatcmpl-C2fGZ8u4Vq0rj3wTnKx1d9Yb7Hs5A"


def test_parsed_events_give_the_same_row(ledger_url: str) -> None:
    llmledger.configure(ledger_url)
    with llmledger.track_stream("openai", "gpt-4o") as s:
        for event in events(sse("openai_chat_stream.sse")):
            s.event(event)
    row = the_row()
    assert row["tokens"] == {"input_tokens": 86, "cache_read_tokens": 1920, "output_tokens": 10}
    assert (row["cost_pico"], row["usage_source"]) == (2_715_000_000, "stream_final")


def test_anthropic_streams_are_read_as_messages(ledger_url: str) -> None:
    llmledger.configure(ledger_url)
    with llmledger.track_stream("anthropic", "claude-opus-4-1") as s:
        s.event(sse("anthropic_messages_stream_thinking_cache.sse"))
    row = the_row()
    assert row["model"] == "claude-opus-4-1-20250805"
    assert row["tokens"] == {
        "input_tokens": 472,
        "cache_read_tokens": 2048,
        "cache_write_1h_tokens": 1024,
        "output_tokens": 187,
    }
    # 472 * 15 + 2048 * 1.50 + 1024 * 30 (1 h write) + 187 * 75 USD per million tokens
    assert row["cost_pico"] == 54_897_000_000


def test_gemini_streams_are_read_as_generate_content(ledger_url: str) -> None:
    llmledger.configure(ledger_url)
    with llmledger.track_stream("Gemini", "gemini-2.5-flash") as s:
        for event in events(sse("gemini_stream_crlf.sse")):
            s.event(event)
    row = the_row()
    assert (row["provider"], row["model"]) == ("google", "gemini-2.5-flash")
    assert row["tokens"] == {"input_tokens": 12, "output_tokens": 17, "reasoning_tokens": 30}
    # 12 * 0.30 + (17 + 30 thinking) * 2.50 USD per million tokens
    assert row["cost_pico"] == 121_100_000


def test_a_stream_without_usage_is_estimated_as_capture_estimates_it(
    fake: Any, ledger_url: str
) -> None:
    llmledger.configure(ledger_url)
    served = fake.serve(reply("openai_chat_stream_no_usage.sse")).body
    with instrument(make_client("openai", fake.url), provider="openai") as client:
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    captured = the_row()
    llmledger.configure(ledger_url.replace("ledger.db", "manual.db"))
    with llmledger.track_stream("openai", "gpt-4o-mini", request=fake.received[-1].body) as s:
        s.event(served)
    manual = the_row()
    for key in ("model", "tokens", "cost_pico", "usage_source", "provider_response_id"):
        assert manual[key] == captured[key]
    body = json.dumps(REQUEST).encode()
    prompt = estimate_request_tokens("chat", body, "o200k_base")
    # o200k_base: Hello| there|!| How| can| I| help| you| today|?
    assert manual["tokens"] == {"input_tokens": prompt, "output_tokens": 10}
    with llmledger.track_stream("openai", "gpt-4o-mini", request=REQUEST) as s:
        s.event(served)
    assert llmledger.calls()["input_tokens"].to_list() == [prompt, prompt]
    # gpt-4o-mini: 0.15 in, 0.60 out USD per million tokens
    assert manual["cost_pico"] == prompt * 150_000 + 10 * 600_000
    assert manual["usage_source"] == "estimated"


class Boom(Exception):
    pass


def test_a_block_that_raises_is_recorded_interrupted_and_the_error_goes_on(
    ledger_url: str,
) -> None:
    llmledger.configure(ledger_url)
    chunks = [e + b"\n\n" for e in reply("openai_chat_stream_no_usage.sse").body.split(b"\n\n")]
    error = Boom("connection reset")
    with (
        pytest.raises(Boom) as raised,
        llmledger.track_stream("openai", "gpt-4o-mini", request=REQUEST) as s,
    ):
        for chunk in chunks[:3]:
            s.event(chunk)
        raise error
    assert raised.value is error
    row = the_row()
    assert (row["status"], row["usage_source"]) == ("interrupted", "estimated")
    # the three events before the break: role, "Hello", " there! How can"
    output = count_tokens("Hello there! How can", "o200k_base")
    prompt = estimate_request_tokens("chat", json.dumps(REQUEST).encode(), "o200k_base")
    assert row["tokens"] == {"input_tokens": prompt, "output_tokens": output}
    assert row["cost_pico"] == prompt * 150_000 + output * 600_000


def test_misuse_is_said_where_it_happens_and_the_call_is_recorded_once(ledger_url: str) -> None:
    llmledger.configure(ledger_url)
    with llmledger.track_stream("openai", "gpt-4o") as s:
        s.event(sse("openai_chat_stream.sse"))
        with pytest.raises(TypeError, match="do not mix raw bytes and parsed events"):
            s.event({"choices": []})
        with pytest.raises(TypeError, match="got str"):
            s.event("data: {}\n\n")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="recorded when its block ended"):
        s.event(b"data: {}\n\n")
    with pytest.raises(RuntimeError, match="recorded when its block ended"), s:
        pass
    assert len(llmledger.calls()) == 1
    with pytest.raises(ValueError, match="api must be one of"):
        llmledger.track_stream("openai", "gpt-4o", api="embeddings")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model must not be empty"):
        llmledger.track_stream("openai", "")
    with pytest.raises(TypeError, match="request must be bytes, a dict or None"):
        llmledger.track_stream("openai", "gpt-4o", request="{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tag keys must be non-empty strings"):
        llmledger.track_stream("openai", "gpt-4o", tags={"": "x"})


def test_garbage_is_counted_not_raised(ledger_url: str) -> None:
    llmledger.configure(ledger_url)
    before = llmledger.capture.problems["parse"]
    with llmledger.track_stream("openai", "gpt-4o-mini", request=REQUEST) as s:
        s.event(b"data: {not json\n\n")
    row = the_row()
    assert llmledger.capture.problems["parse"] == before + 1
    assert row["usage_source"] == "estimated" and row["tokens"]["input_tokens"] > 0


def test_nothing_is_recorded_while_switched_off(tmp_path: Path) -> None:
    llmledger.configure(f"sqlite:///{tmp_path / 'ledger.db'}", enabled=False)
    with llmledger.track_stream("openai", "gpt-4o") as s:
        s.event(sse("openai_chat_stream.sse"))
    assert llmledger.flush() and llmledger.calls().is_empty()
    assert list(tmp_path.iterdir()) == []


def test_the_switch_is_read_when_the_stream_starts_and_when_it_is_recorded(
    ledger_url: str,
) -> None:
    body = sse("openai_chat_stream.sse")
    llmledger.configure(ledger_url, enabled=False)
    with llmledger.track_stream("openai", "gpt-4o") as begun_off:
        llmledger.configure(ledger_url)
        begun_off.event(body)  # not parsed: it began while recording was off
    with llmledger.track_stream("openai", "gpt-4o") as s:
        s.event(body)
        llmledger.configure(ledger_url, enabled=False)  # ends while off: dropped
    with llmledger.track_stream("openai", "gpt-4o") as s:
        llmledger.configure(ledger_url)
        s.event(body)
    assert len(llmledger.calls()) == 0
    with llmledger.track_stream("openai", "gpt-4o") as s:
        s.event(body)
    assert llmledger.calls()["cost"].to_list() == [Decimal("0.002715")]
