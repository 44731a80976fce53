"""The latency capture adds to an SDK call: the same OpenAI call, uninstrumented and
instrumented, in the same process, plain JSON and streamed.

Two setups: the loopback fake provider (the whole call, network included), and an in-memory
transport replaying the same bytes (no network: the difference is capture's own work, tee,
parsing, pricing and queueing the row, with much less noise). Target: median added < 50 us.
Run: `make bench` (or `pytest benches/bench_capture_latency.py --benchmark-only`).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import llmledger
from llmledger.capture import httpx_client, instrument, tee

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
from fakeprovider import reply  # noqa: E402

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
JSON = reply("openai_chat.json")
STREAM = reply("openai_chat_stream.sse")
ROUNDS = 1000


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[bool, str]]:
    """The fake provider in its own processes (one per reply), as a real provider would be:
    its work does not compete for this process's GIL. URLs keyed by `stream`."""
    procs = {
        stream: subprocess.Popen(
            [sys.executable, "-m", "fakeprovider", name],
            cwd=TESTS,
            stdout=subprocess.PIPE,
            text=True,
        )
        for stream, name in ((False, "openai_chat.json"), (True, "openai_chat_stream.sse"))
    }
    try:
        yield {stream: p.stdout.readline().strip() for stream, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
            p.wait()
            p.stdout.close()


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
    benchmark: Any, ledger: None, servers: dict[bool, str], stream: bool, wired: bool
) -> None:
    client = openai.OpenAI(api_key="sk-bench", base_url=servers[stream] + "/v1", max_retries=0)
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
    """`capture-only` drops the finished call instead of queueing it: the tee and the
    parser's feed alone, to tell the app thread's own cost from the writer thread's."""
    transport = Replay(STREAM if stream else JSON)
    if mode == "plain":
        http = httpx2.Client(transport=transport)
    else:
        http = httpx_client(provider="openai", transport=transport)
    if mode == "capture-only":
        monkeypatch.setattr(tee, "deliver", lambda exchange: None)
    client = openai.OpenAI(
        api_key="sk-bench", base_url="https://api.openai.com/v1", http_client=http
    )
    kind = "stream" if stream else "json"
    _run(benchmark, client, stream, f"openai chat {kind}, in-memory transport")
    assert len(llmledger.calls()) == (mode == "instrumented") * _rounds(benchmark)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("where", ["loopback", "in-memory"])
def test_paired(
    benchmark: Any, ledger: None, servers: dict[bool, str], stream: bool, where: str
) -> None:
    """The instrumented call, timed by pytest-benchmark, with the same call on an
    uninstrumented client made and timed just before each round. Both see the same machine
    load, so `extra_info["added_us"]` (median instrumented - median plain) holds up on a busy
    machine, where separate runs drift apart by more than the difference measured."""
    body = STREAM if stream else JSON
    if where == "loopback":
        url = servers[stream] + "/v1"
        plain = openai.OpenAI(api_key="sk-bench", base_url=url, max_retries=0)
        wired = instrument(
            openai.OpenAI(api_key="sk-bench", base_url=url, max_retries=0), provider="openai"
        )
    else:
        url = "https://api.openai.com/v1"
        plain = openai.OpenAI(
            api_key="sk-bench", base_url=url, http_client=httpx2.Client(transport=Replay(body))
        )
        wired = openai.OpenAI(
            api_key="sk-bench",
            base_url=url,
            http_client=httpx_client(provider="openai", transport=Replay(body)),
        )
    plain_ns: list[int] = []

    def plain_call() -> None:
        start = time.perf_counter_ns()
        _call(plain, stream)
        plain_ns.append(time.perf_counter_ns() - start)

    with plain, wired:
        benchmark.pedantic(
            _call, (wired, stream), setup=plain_call, rounds=ROUNDS, warmup_rounds=20
        )
    benchmark.group = f"openai chat {'stream' if stream else 'json'}, paired with plain"
    if not benchmark.disabled:
        # The mean as well: it carries the writer thread's share of the GIL, which the median
        # (most calls never meet it) does not.
        stats, plain_ns = benchmark.stats.stats, plain_ns[20:]
        plain_median, plain_mean = (
            statistics.median(plain_ns) / 1000,
            statistics.mean(plain_ns) / 1000,
        )
        benchmark.extra_info["plain_median_us"] = round(plain_median, 1)
        benchmark.extra_info["added_us"] = round(stats.median * 1e6 - plain_median, 1)
        benchmark.extra_info["added_mean_us"] = round(stats.mean * 1e6 - plain_mean, 1)
    assert len(llmledger.calls()) == _rounds(benchmark)


def _rounds(benchmark: Any) -> int:
    """Calls made: warm-up and timed rounds, or one call when benchmarks are disabled."""
    return 1 if benchmark.disabled else ROUNDS + 20
