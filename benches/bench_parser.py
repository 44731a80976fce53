"""Stream parsing: the Rust `UsageParser` versus the same job in pure Python.

Both read the same generated OpenAI chat stream (10,000 content chunks and a final usage
chunk, about 3 MB) in the same 4 KiB reads a socket would give, and produce the same
result: model, id, tier, the disjoint buckets and the streamed text. The Python baseline
is what one would write by hand: split lines, `json.loads` per event, dict look-ups.
Target: Rust at least 10x faster. Run: `make bench`.
"""

import json
import time

import pytest

from llmledger._core import BUCKETS, Summary, UsageParser

READ = 4096
MODEL, ID = "gpt-4o-2024-08-06", "chatcmpl-BgVz3n7QkR1pXy2MwT5uLs8dH4aJc"
WORDS = ["The", " ledger", " records", " every", " call", ",", " é", " 🎉", " and\\n", " cost"]


def chunk(delta: dict | None, usage: dict | None = None) -> bytes:
    event = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1749210000,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_07871e2ad8",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}],
        "usage": usage,
    }
    return b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"


def make_stream(n: int) -> bytes:
    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": json.loads(f'"{WORDS[i % len(WORDS)]}"')}) for i in range(n)]
    usage = {
        "prompt_tokens": 2006,
        "completion_tokens": n,
        "total_tokens": 2006 + n,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    parts += [chunk(None, usage), b"data: [DONE]\n\n"]
    return b"".join(parts)


STREAM = make_stream(10_000)
READS = [STREAM[i : i + READ] for i in range(0, len(STREAM), READ)]


class PyChatStreamParser:
    """The pure-Python baseline: the same extraction as the Rust OpenAI chat dialect (text,
    refusals, streamed reasoning and tool-call arguments; usage, also Groq's and DeepSeek's;
    the raw usage text; a provider error), minus the framing corner cases."""

    def __init__(self) -> None:
        self.pending = b""
        self.data: list[bytes] = []
        self.model: str | None = None
        self.response_id: str | None = None
        self.service_tier: str | None = None
        self.usage: dict[str, int] | None = None
        self.text: list[str] = []
        self.raw_usage: str | None = None
        self.error: str | None = None

    def feed(self, chunk: bytes) -> None:
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                self.dispatch()
            elif line.startswith(b"data:"):
                self.data.append(line[6:] if line[5:6] == b" " else line[5:])

    def dispatch(self) -> None:
        payload = b"\n".join(self.data)
        self.data.clear()
        if not payload or payload == b"[DONE]":
            return
        event = json.loads(payload)
        self.model = self.model or event.get("model")
        self.response_id = self.response_id or event.get("id")
        self.service_tier = event.get("service_tier") or self.service_tier
        if event.get("error"):
            self.error = self.error or str(event["error"])
        for choice in event.get("choices") or ():
            self.take_text(choice.get("text"))
            for message in (choice.get("delta"), choice.get("message")):
                if not message:
                    continue
                for key in ("reasoning_content", "content", "refusal"):
                    self.take_text(message.get(key))
                for call in message.get("tool_calls") or ():
                    self.take_text((call.get("function") or {}).get("arguments"))
        usage = event.get("usage") or (event.get("x_groq") or {}).get("usage")
        if usage:
            self.raw_usage = json.dumps(usage)
            prompt = usage.get("prompt_tokens_details") or {}
            completion = usage.get("completion_tokens_details") or {}
            cached = prompt.get("cached_tokens") or usage.get("prompt_cache_hit_tokens", 0)
            audio_in = prompt.get("audio_tokens", 0)
            reasoning = completion.get("reasoning_tokens", 0)
            audio_out = completion.get("audio_tokens", 0)
            self.usage = {
                "input_tokens": usage["prompt_tokens"] - cached - audio_in,
                "cache_read_tokens": cached,
                "output_tokens": usage["completion_tokens"] - reasoning - audio_out,
                "reasoning_tokens": reasoning,
                "input_audio_tokens": audio_in,
                "output_audio_tokens": audio_out,
            }

    def take_text(self, value: object) -> None:
        # Providers send null, or structured content, where text is expected.
        if isinstance(value, str):
            self.text.append(value)

    def finish(self) -> dict:
        if self.pending:
            self.feed(b"\n")
        self.dispatch()
        return {
            "model": self.model,
            "response_id": self.response_id,
            "service_tier": self.service_tier,
            "usage": self.usage,
            "output_text": "".join(self.text),
        }


def parse_rust() -> Summary:
    parser = UsageParser("chat", True)
    for read in READS:
        parser.feed(read)
    return parser.finish()


def parse_python() -> dict:
    parser = PyChatStreamParser()
    for read in READS:
        parser.feed(read)
    return parser.finish()


def test_both_parsers_agree() -> None:
    rust, python = parse_rust(), parse_python()
    assert {k: getattr(rust, k) for k in python if k != "usage"} == {
        k: v for k, v in python.items() if k != "usage"
    }
    assert rust.tokens is not None
    usage = dict(zip(BUCKETS, rust.tokens, strict=True))
    assert {k: v for k, v in usage.items() if v} == {k: v for k, v in python["usage"].items() if v}
    assert usage["output_tokens"] == 10_000


# CPU time of the process, so that other load on a shared machine does not skew the ratio.
@pytest.mark.benchmark(timer=time.process_time)
@pytest.mark.parametrize("impl", [parse_rust, parse_python], ids=["rust", "python"])
def test_parse_chat_stream(benchmark, impl) -> None:
    benchmark.group = f"parse a {len(STREAM) / 1e6:.1f} MB chat stream in 4 KiB reads"
    benchmark.extra_info["bytes"] = len(STREAM)
    benchmark.pedantic(impl, rounds=60, warmup_rounds=3)
