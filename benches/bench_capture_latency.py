"""The latency capture adds to an SDK call: the same OpenAI call, uninstrumented and
instrumented, in the same process, plain JSON and streamed.

Two setups: the loopback fake provider (the whole call, network included), and an in-memory
transport replaying the same bytes (no network: the difference is capture's own work, tee,
parsing, pricing and queueing the row, with much less noise). Target: median added < 50 us.
Run: `make bench` (or `pytest benches/bench_capture_latency.py --benchmark-only`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import llmledger
from llmledger.capture import httpx_client, instrument, tee

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakeprovider import FakeProvider, reply

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
JSON = reply("openai_chat.json")
STREAM = reply("openai_chat_stream.sse")
ROUNDS = 1000


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


class _Chunks(httpx2.SyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


class Replay(httpx2.BaseTransport):
    """Answers every request with the same recorded body, chunk by chunk, from memory."""

    def __init__(self, body: Any) -> None:
        self._chunks = body.chunks()
        self._headers = [("content-type", body.content_type)]

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=self._headers, stream=_Chunks(self._chunks))


def _call(client: openai.OpenAI, stream: bool) -> Any:
    if stream:
        return list(
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        )
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def _run(benchmark: Any, client: openai.OpenAI, stream: bool, group: str) -> None:
    with client:
        benchmark.pedantic(_call, (client, stream), rounds=ROUNDS, warmup_rounds=20)
    benchmark.group = group


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("wired", [False, True], ids=["plain", "instrumented"])
def test_loopback_server(
    benchmark: Any, ledger: None, fake: FakeProvider, stream: bool, wired: bool
) -> None:
    fake.serve(STREAM if stream else JSON)
    client = openai.OpenAI(api_key="sk-bench", base_url=fake.url + "/v1", max_retries=0)
    if wired:
        instrument(client, provider="openai")
    _run(
        benchmark, client, stream, f"openai chat {'stream' if stream else 'json'}, loopback server"
    )
    assert len(llmledger.calls()) == (1 if wired else 0) * _rounds(benchmark)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("mode", ["plain", "instrumented", "capture-only"])
def test_in_memory(
    benchmark: Any, ledger: None, monkeypatch: pytest.MonkeyPatch, stream: bool, mode: str
) -> None:
    """`capture-only` drops the finished observation instead of recording it: the tee and
    the parser alone, to tell capture's own cost from pricing and the writer's."""
    transport = Replay(STREAM if stream else JSON)
    if mode == "plain":
        http = httpx2.Client(transport=transport)
    else:
        http = httpx_client(provider="openai", transport=transport)
    if mode == "capture-only":
        monkeypatch.setattr(tee, "deliver", lambda observation: None)
    client = openai.OpenAI(
        api_key="sk-bench", base_url="https://api.openai.com/v1", http_client=http
    )
    kind = "stream" if stream else "json"
    _run(benchmark, client, stream, f"openai chat {kind}, in-memory transport")
    assert len(llmledger.calls()) == (mode == "instrumented") * _rounds(benchmark)


def _rounds(benchmark: Any) -> int:
    """Calls made: warm-up and timed rounds, or one call when benchmarks are disabled."""
    return 1 if benchmark.disabled else ROUNDS + 20
